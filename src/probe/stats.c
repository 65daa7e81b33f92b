/*
 * stats.c — ping's min/avg/max/mdev from running sums (exact over any number
 * of samples), and nearest-rank percentiles over the newest PROBE_STATS_KEEP
 * samples so that a long --watch keeps bounded memory.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

void probe_stats_add(struct probe_stats *st, double v)
{
	if (!st->keep)
		st->keep = calloc(PROBE_STATS_KEEP, sizeof *st->keep);
	if (st->n == 0 || v < st->min)
		st->min = v;
	if (st->n == 0 || v > st->max)
		st->max = v;
	if (st->keep)
		st->keep[st->n % PROBE_STATS_KEEP] = v;
	st->n++;
	st->sum += v;
	st->sumsq += v * v;
}

void probe_stats_free(struct probe_stats *st)
{
	free(st->keep);
	memset(st, 0, sizeof *st);
}

double probe_stats_avg(const struct probe_stats *st)
{
	return st->n ? st->sum / (double)st->n : 0;
}

/* ping's mdev: sqrt(E[x^2] - E[x]^2), clamped at 0 against rounding. */
double probe_stats_mdev(const struct probe_stats *st)
{
	double avg = probe_stats_avg(st), var;

	if (!st->n)
		return 0;
	var = st->sumsq / (double)st->n - avg * avg;
	return var > 0 ? sqrt(var) : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double probe_stats_pct(const struct probe_stats *st, double pct)
{
	size_t n = st->n < PROBE_STATS_KEEP ? (size_t)st->n : PROBE_STATS_KEEP, rank;
	double *v, out;

	if (!n || !st->keep || !(v = malloc(n * sizeof *v)))
		return 0;
	memcpy(v, st->keep, n * sizeof *v);
	qsort(v, n, sizeof *v, cmp_double);
	/* Nearest rank: the smallest value with at least pct% of the samples at or below it. */
	rank = (size_t)ceil(pct / 100.0 * (double)n);
	out = v[rank ? rank - 1 : 0];
	free(v);
	return out;
}
