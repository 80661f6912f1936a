/*
 * bench.c -- host throughput of the exported inference: images per second,
 * single-threaded, over the embedded test images repeated until at least
 * the given seconds have passed (argument 1, default 2). Prints one line:
 *   bench images N seconds S images_per_s X
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
    double min_seconds = argc > 1 ? atof(argv[1]) : 2.0, start, elapsed;
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
    printf("bench images %ld seconds %.6f images_per_s %.3f decided %d\n", images, elapsed,
           (double)images / elapsed, votes);
    return 0;
}
