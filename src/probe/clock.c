/* clock.c — monotonic time and the waits every phase shares. */
#include <errno.h>
#include <poll.h>
#include <time.h>

#include "probe.h"

int64_t probe_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * PROBE_NS_PER_S + ts.tv_nsec;
}

int64_t probe_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * PROBE_NS_PER_S + ts.tv_nsec;
}

/* poll() takes milliseconds: round up so that we never wake before the deadline. */
static int poll_ms(int64_t left_ns)
{
	int64_t ms = (left_ns + PROBE_NS_PER_MS - 1) / PROBE_NS_PER_MS;

	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

int probe_wait_fd(int fd, short events, int64_t deadline_ns, int stop_fd, short *revents)
{
	struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = stop_fd, .events = POLLIN}};

	/* Each pass either returns or sleeps toward the deadline, so EINTR cannot spin it. */
	for (;;) {
		int64_t left = deadline_ns - probe_now_ns();
		int n;

		if (left <= 0)
			return 0;
		n = poll(p, 2, poll_ms(left));
		if (n < 0 && errno != EINTR)
			return -1;
		if (n <= 0)
			continue;
		if (p[1].revents)
			return -1;
		if (p[0].revents) {
			if (revents)
				*revents = p[0].revents;
			return 1;
		}
	}
}

bool probe_sleep_until(int64_t deadline_ns, int stop_fd)
{
	return probe_wait_fd(-1, 0, deadline_ns, stop_fd, NULL) == 0;
}
