// A Rust program whose hot path is a generic method in a module: profile must show it as
// "shapes::Spinner<T>::spin" (legacy mangling, hash dropped) or with its type (v0).
use std::time::{Duration, Instant};

mod shapes {
    pub struct Spinner<T> {
        pub sink: T,
    }

    impl Spinner<u64> {
        #[inline(never)]
        pub fn spin(&mut self, rounds: u64) {
            for i in 0..rounds {
                // A volatile write, not std::hint::black_box (Rust 1.66): Debian 12 has 1.63.
                unsafe { std::ptr::write_volatile(&mut self.sink, self.sink.wrapping_add(i)) };
            }
        }
    }
}

fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut s = shapes::Spinner { sink: 0u64 };
    while Instant::now() < end {
        s.spin(100000);
    }
    std::process::exit((s.sink & 1) as i32 * 0);
}
