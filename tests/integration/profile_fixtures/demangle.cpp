// A C++ program whose hot path is a method of a class template in a namespace: profile
// must show it as "shapes::Spinner<int>::spin(int)", not "_ZN6shapes7SpinnerIiE4spinEi".
#include <chrono>
#include <cstdlib>

namespace shapes {
template <typename T> struct Spinner {
	volatile T sink = 0;
	__attribute__((noinline)) void spin(int rounds)
	{
		for (int i = 0; i < rounds; i++)
			sink = sink + static_cast<T>(i);
	}
};
} // namespace shapes

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
	auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
	shapes::Spinner<int> s;

	while (std::chrono::steady_clock::now() < end)
		s.spin(100000);
	return 0;
}
