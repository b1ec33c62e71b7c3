// Memory read bandwidth, STREAM-like: each thread sums its share of a buffer much larger than the
// caches, several passes, the best pass kept. Reading (not copying) is what a decode step does with
// the weights. Built and run by test/bench/sizing.bench.ts: membw THREADS MIB PASSES -> GB/s.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct { const uint64_t *p; size_t n; uint64_t sum; } job_t;

static void *run(void *arg) {
  job_t *j = arg;
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i + 4 <= j->n; i += 4) { a += j->p[i]; b += j->p[i + 1]; c += j->p[i + 2]; d += j->p[i + 3]; }
  j->sum = a + b + c + d;
  return NULL;
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 1024;
  int passes = argc > 3 ? atoi(argv[3]) : 5;
  size_t n = mib * 1024 * 1024 / sizeof(uint64_t);
  uint64_t *buf = aligned_alloc(64, n * sizeof(uint64_t));
  if (!buf) return 1;
  for (size_t i = 0; i < n; i++) buf[i] = i;
  double best = 0;
  uint64_t total = 0;
  for (int p = 0; p < passes; p++) {
    pthread_t th[64];
    job_t jobs[64];
    size_t share = n / threads;
    double t0 = now();
    for (int t = 0; t < threads; t++) { jobs[t] = (job_t){ buf + t * share, share, 0 }; pthread_create(&th[t], NULL, run, &jobs[t]); }
    for (int t = 0; t < threads; t++) { pthread_join(th[t], NULL); total += jobs[t].sum; }
    double gbps = (double)(share * threads * sizeof(uint64_t)) / (now() - t0) / 1e9;
    if (gbps > best) best = gbps;
  }
  printf("%.2f\n", best);
  fprintf(stderr, "checksum %llu\n", (unsigned long long)total);
  free(buf);
  return 0;
}
