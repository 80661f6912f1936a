/*
 * main.c -- example: classify the test images of snn_images.h and check each
 * against the engine's answer recorded at export time.
 *
 * One line per image:
 *   image K label Y prediction P engine E presentations R agree A counts c0 c1 ...
 * (agree: 1 when the prediction and the spike counts equal the engine's),
 * then a summary line. Exits with status 0 only if every image agrees.
 * It uses no printf, so the same file runs on a microcontroller.
 */
#include "snn.h"
#include "snn_images.h"
#include "snn_port.h"

/* Static, not on the stack: the state is 15 N + 6.8 kB at the 8-bit preset. */
static snn_state state;
static uint16_t counts[SNN_NEURONS];

/* FNV-1a over the counts, one 16-bit word at a time (as dse/export/expected.py). */
static uint32_t count_hash(const uint16_t *c)
{
    uint32_t h = 2166136261u;
    int j;
    for (j = 0; j < SNN_NEURONS; ++j) {
        h ^= c[j];
        h *= 16777619u;
    }
    return h;
}

/* A small line buffer, flushed through port_write when full and at each newline. */
static char line[128];
static unsigned used;

static void put_text(const char *text)
{
    while (*text) {
        if (used == sizeof line - 1) {
            line[used] = '\0';
            port_write(line);
            used = 0;
        }
        line[used++] = *text++;
    }
}

static void put_int(long value)
{
    char digits[24];
    int n = 0;
    unsigned long u = value < 0 ? 0ul - (unsigned long)value : (unsigned long)value;
    if (value < 0)
        put_text("-");
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n) {
        char one[2];
        one[0] = digits[--n];
        one[1] = '\0';
        put_text(one);
    }
}

static void put_field(const char *name, long value)
{
    put_text(" ");
    put_text(name);
    put_text(" ");
    put_int(value);
}

static void end_line(void)
{
    put_text("\n");
    line[used] = '\0';
    port_write(line);
    used = 0;
}

int main(void)
{
    int k, j, correct = 0, agree = 0;
    for (k = 0; k < SNN_IMAGES; ++k) {
        int presentations = snn_run_image(&state, snn_images[k], SNN_TEST_STREAM + (uint64_t)k, counts);
        int prediction = snn_classify(counts);
        int same = prediction == snn_engine_predictions[k] && count_hash(counts) == snn_engine_count_hashes[k];
        correct += prediction == snn_image_labels[k];
        agree += same;
        put_text("image ");
        put_int(k);
        put_field("label", snn_image_labels[k]);
        put_field("prediction", prediction);
        put_field("engine", snn_engine_predictions[k]);
        put_field("presentations", presentations);
        put_field("agree", same);
        put_text(" counts");
        for (j = 0; j < SNN_NEURONS; ++j) {
            put_text(" ");
            put_int(counts[j]);
        }
        end_line();
    }
    put_text("summary");
    put_field("images", SNN_IMAGES);
    put_field("correct", correct);
    put_field("agree", agree);
    put_field("near_ties", (long)state.near_ties);
    put_field("stack_bytes", (long)port_stack_bytes());
    end_line();
    port_exit(agree == SNN_IMAGES ? 0 : 1);
    return 0;
}
