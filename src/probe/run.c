/*
 * run.c — one thread per target, so that the run takes as long as the
 * slowest target; a single printer (the calling thread) takes the results in
 * input order and keeps the summaries, so output never interleaves.
 * SIGINT and SIGTERM write to a pipe that every wait polls: a run ends
 * promptly, and the summary still prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe.h"

struct queued {
	struct queued *next;
	unsigned seq;
	struct probe_result r;
};

/* Shared by the workers and the printer of one run. */
struct board {
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

struct worker {
	struct board *b;
	const struct probe_run_opts *o;
	const struct probe_target *t;
	struct probe_tls *tls;
	pthread_t thread;
	bool started, done;
	struct queued *head, **tail;
	struct probe_summary sum;
};

/* The signal handler's only way to reach the run: the write end of the stop pipe. */
static volatile int stop_write_fd = -1;

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (stop_write_fd >= 0 && write(stop_write_fd, &c, 1) < 0) {
		/* The pipe is already readable: nothing more to say. */
	}
	errno = saved;
}

static void push(struct worker *w, struct queued *q)
{
	pthread_mutex_lock(&w->b->lock);
	q->next = NULL;
	*w->tail = q;
	w->tail = &q->next;
	pthread_cond_broadcast(&w->b->cond);
	pthread_mutex_unlock(&w->b->lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct probe_run_opts *o = w->o;
	int64_t start = probe_now_ns();

	/* Bounded by count, or (count 0, --watch) by the stop pipe. */
	for (unsigned seq = 1; !o->count || seq <= o->count; seq++) {
		struct queued *q = calloc(1, sizeof *q);
		bool interrupted;

		if (!q)
			break;
		q->seq = seq;
		probe_attempt(&o->cfg, w->tls, w->t, &q->r);
		/* Once pushed, q belongs to the printing thread, which frees it. */
		interrupted = q->r.class == PROBE_INTERRUPTED;
		push(w, q);
		if (interrupted || (o->count && seq == o->count))
			break;
		if (!probe_sleep_until(start + (int64_t)seq * o->interval_ns, o->cfg.stop_fd))
			break;
	}
	pthread_mutex_lock(&w->b->lock);
	w->done = true;
	pthread_cond_broadcast(&w->b->cond);
	pthread_mutex_unlock(&w->b->lock);
	return NULL;
}

/* Takes the next result of w, waiting for it; NULL once w has finished. */
static struct queued *pop_wait(struct worker *w, bool wait)
{
	struct queued *q;

	pthread_mutex_lock(&w->b->lock);
	while (wait && !w->head && !w->done)
		pthread_cond_wait(&w->b->cond, &w->b->lock);
	q = w->head;
	if (q) {
		w->head = q->next;
		if (!w->head)
			w->tail = &w->head;
	}
	pthread_mutex_unlock(&w->b->lock);
	return q;
}

static void show(struct worker *w, struct queued *q)
{
	if (q->r.class != PROBE_INTERRUPTED) {
		if (w->o->watch)
			probe_report_state(w->o, w->t, &q->r, &w->sum);
		else
			probe_report_attempt(w->o, w->t, q->seq, &q->r, &w->sum);
	}
	free(q);
}

/* Input order, round by round: target k's attempt n prints after target k-1's. */
static void print_ordered(struct worker *ws, size_t n)
{
	bool any = true;

	while (any) {
		any = false;
		for (size_t i = 0; i < n; i++) {
			struct queued *q = pop_wait(&ws[i], true);

			if (q) {
				show(&ws[i], q);
				any = true;
			}
		}
	}
}

static bool all_done(struct worker *ws, size_t n)
{
	bool done = true;

	pthread_mutex_lock(&ws->b->lock);
	for (size_t i = 0; i < n; i++)
		done = done && ws[i].done && !ws[i].head;
	pthread_mutex_unlock(&ws->b->lock);
	return done;
}

/* --watch: state changes as they happen, whichever target has them. */
static void print_live(struct worker *ws, size_t n)
{
	while (!all_done(ws, n)) {
		bool got = false;

		for (size_t i = 0; i < n; i++) {
			struct queued *q = pop_wait(&ws[i], false);

			if (q) {
				show(&ws[i], q);
				got = true;
			}
		}
		pthread_mutex_lock(&ws->b->lock);
		if (!got) {
			bool queued = false, running = false;

			/* Sleep only when nothing waits to print and a worker may still push. */
			for (size_t i = 0; i < n; i++) {
				queued = queued || ws[i].head;
				running = running || !ws[i].done;
			}
			if (!queued && running)
				pthread_cond_wait(&ws->b->cond, &ws->b->lock);
		}
		pthread_mutex_unlock(&ws->b->lock);
	}
}

static int exit_status(const struct probe_run_opts *o, struct worker *ws, size_t n)
{
	uint64_t sent = 0;

	for (size_t i = 0; i < n; i++)
		sent += ws[i].sum.sent;
	/* Nothing ended at all: a signal came before the first attempt was through. */
	if (!sent)
		return probe_class_exit(PROBE_INTERRUPTED);
	for (size_t i = 0; i < n; i++) {
		const struct probe_summary *s = &ws[i].sum;

		if (o->watch && s->have_state && !s->up)
			return probe_class_exit(s->state_class);
		if (!o->watch && s->failed)
			return probe_class_exit(s->last_fail);
	}
	return 0;
}

/* Why a method is missing: one line, for the user. */
const char *probe_method_missing(enum probe_method method)
{
	(void)method;
	return "this probe method is not available in this build";
}

static void install_signals(struct sigaction *old_int, struct sigaction *old_term)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, old_int);
	sigaction(SIGTERM, &sa, old_term);
}

/* A peer that closes mid-request must give EPIPE (a class), not kill the run. */
static void ignore_sigpipe(struct sigaction *old_pipe)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, old_pipe);
}

static int run_workers(struct probe_run_opts *o, const struct probe_target *targets, size_t n,
		       struct probe_tls *tls)
{
	struct board b = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};
	struct worker *ws = calloc(n, sizeof *ws);
	int status;

	if (!ws)
		return probe_class_exit(PROBE_ERR_OTHER);
	probe_report_start(o);
	for (size_t i = 0; i < n; i++) {
		ws[i] = (struct worker){.b = &b, .o = o, .t = &targets[i], .tls = tls};
		ws[i].tail = &ws[i].head;
		ws[i].started = pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) == 0;
		if (!ws[i].started)
			ws[i].done = true;
	}
	if (o->watch)
		print_live(ws, n);
	else
		print_ordered(ws, n);
	for (size_t i = 0; i < n; i++)
		if (ws[i].started)
			pthread_join(ws[i].thread, NULL);
	for (size_t i = 0; i < n; i++)
		probe_report_summary(o, ws[i].t, &ws[i].sum);
	status = exit_status(o, ws, n);
	for (size_t i = 0; i < n; i++) {
		for (int p = 0; p < PROBE_PHASE_COUNT; p++)
			probe_stats_free(&ws[i].sum.phase[p]);
		probe_stats_free(&ws[i].sum.total);
	}
	free(ws);
	return status;
}

/* The run itself, once the method is known to work. */
static int run_checked(struct probe_run_opts *o, const struct probe_target *targets, size_t n)
{
	struct sigaction old_int, old_term, old_pipe;
	struct probe_tls *tls = NULL;
	char err[PROBE_TEXT_MAX];
	int pipefd[2], status;

	if (o->cfg.tls && !(tls = probe_tls_new(&o->cfg, err, sizeof err))) {
		fprintf(stderr, "synack probe: %s\n", err);
		return probe_class_exit(PROBE_ERR_OTHER);
	}
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
		probe_tls_free(tls);
		return probe_class_exit(PROBE_ERR_OTHER);
	}
	o->cfg.stop_fd = pipefd[0];
	stop_write_fd = pipefd[1];
	install_signals(&old_int, &old_term);
	ignore_sigpipe(&old_pipe);
	status = run_workers(o, targets, n, tls);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	stop_write_fd = -1;
	close(pipefd[0]);
	close(pipefd[1]);
	probe_tls_free(tls);
	return status;
}

int probe_run(const struct probe_run_opts *opts, const struct probe_target *targets, size_t n)
{
	struct probe_run_opts o = *opts;
	char err[PROBE_TEXT_MAX];
	enum probe_class ready;
	int hold, status;

	if (!probe_connector(o.cfg.method)) {
		fprintf(stderr, "synack probe: %s\n", probe_method_missing(o.cfg.method));
		return probe_class_exit(PROBE_ERR_UNSUPPORTED);
	}
	/* Once, before any thread starts: one line rather than one failure per attempt. */
	if ((ready = probe_method_check(o.cfg.method, &hold, err, sizeof err)) != PROBE_OK) {
		fprintf(stderr, "synack probe: %s\n", err);
		return probe_class_exit(ready);
	}
	status = run_checked(&o, targets, n);
	if (hold >= 0)
		close(hold);
	return status;
}
