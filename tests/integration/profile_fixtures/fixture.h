#ifndef PROFILE_FIXTURE_H
#define PROFILE_FIXTURE_H

extern volatile unsigned long fixture_sink;
unsigned long hot_spin(unsigned long n);
void fixture_tick(void);

#endif
