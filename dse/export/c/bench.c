/*
 * bench.c -- host throughput of the exported inference: images per second,
 * single-threaded, over the embedded test images repeated until at least
 * the given seconds have passed (argument 1, default 2). Prints one line:
 *   bench images N seconds S images_per_s X cpu_seconds C images_per_cpu_s Y
 * (CPU time is the figure to trust on a machine shared with other work).
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "snn.h"
#include "snn_images.h"

static snn_state state;
static uint16_t counts[SNN_NEURONS];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    double min_seconds = argc > 1 ? atof(argv[1]) : 2.0, start, elapsed, cpu;
    clock_t cpu_start = clock();
    long images = 0;
    int k, votes = 0;
    start = now_s();
    do {
        for (k = 0; k < SNN_IMAGES; ++k) {
            snn_run_image(&state, snn_images[k], SNN_TEST_STREAM + (uint64_t)k, counts);
            votes += snn_classify(counts) >= 0; /* keeps the work observable */
        }
        images += SNN_IMAGES;
        elapsed = now_s() - start;
    } while (elapsed < min_seconds);
    cpu = (double)(clock() - cpu_start) / CLOCKS_PER_SEC;
    printf("bench images %ld seconds %.6f images_per_s %.3f cpu_seconds %.6f images_per_cpu_s %.3f decided %d\n",
           images, elapsed, (double)images / elapsed, cpu, (double)images / cpu, votes);
    return 0;
}
