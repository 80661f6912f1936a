/*
 * snn.h -- inference API of a spiking network exported by `dse export`.
 *
 * The network (Diehl & Cook 2015 / FSpiNN, TCAD 2020) classifies a 28 x 28
 * image by presenting it for SNN_STEPS steps of 1 ms as Poisson spike trains,
 * counting the spikes of each excitatory neuron, and voting with the neurons'
 * class labels. Everything a model needs (weight codes, thresholds, labels,
 * constants) is in snn_model.h; nothing is allocated: the caller owns one
 * snn_state (statically, on the stack of a big enough task, or wherever).
 *
 * Bit-exactness: with the same image and stream index, snn_run_image gives
 * the spike counts of snn-dse's engine (models/engine_numba.py) bit for bit
 * when built on a host with glibc; elsewhere see `near_ties` below and the
 * README of this folder.
 */
#ifndef SNN_H
#define SNN_H

#include <stdint.h>

#include "snn_model.h"

/* Prediction when no class has any evidence (no assigned neuron fired). */
#define SNN_NO_DECISION (-1)

/* How the Poisson input is held during a presentation (compile every file with
 * the same choice: it changes snn_state):
 *   0 (default): per input, its next spike step and next draw, 6.8 kB, whatever
 *     the image; spike gaps are drawn twice (a planning pass, then as due);
 *   1: all the presentation's input spikes as a bit raster, 784 x SNN_STEPS
 *     bits (34 kB at 350 steps); each gap is drawn once: faster.
 * Both give the same spikes. */
#ifndef SNN_INPUT_RASTER
#define SNN_INPUT_RASTER 0
#endif
#define SNN_RASTER_WORDS ((SNN_INPUTS + 63) / 64)

typedef struct {
    /* excitatory neurons (FSpiNN Eq. 1-2) */
    snn_vmem_t v[SNN_NEURONS];          /* membrane potential V: codes of SNN_VMEM_FORMAT (or mV) */
    float ge[SNN_NEURONS];              /* excitatory conductance g_e */
    float gi[SNN_NEURONS];              /* inhibitory conductance g_i */
    uint8_t refractory[SNN_NEURONS];    /* steps left in the refractory hold */
    uint8_t spiked[SNN_NEURONS];        /* spiked in the previous step */
#if SNN_INHIBITORY_LAYER
    /* inhibitory layer (baseline, SL-STDP): one inhibitory neuron per excitatory one */
    float vi[SNN_NEURONS];
    float gei[SNN_NEURONS];
    uint8_t refractory_inh[SNN_NEURONS];
    uint8_t spiked_inh[SNN_NEURONS];
#endif
    snn_drive_t drive[SNN_NEURONS];     /* this step's input: sum of the weight codes of spiking inputs */
#if SNN_INPUT_RASTER
    uint64_t raster[SNN_STEPS][SNN_RASTER_WORDS]; /* bit i of row t: input i spikes at step t */
#else
    /* Poisson inputs: each input's next spike step and the index of its next random draw */
    int16_t next_spike[SNN_INPUTS];
    uint32_t next_draw[SNN_INPUTS];
    double log_q[256];                  /* log(1 - p) for each pixel value, this presentation */
#endif
    uint64_t input_stream;              /* SplitMix64 key of this presentation's input spikes */
    uint64_t rounding_stream;           /* stochastic rounding: state of the rest and reset draws */
    uint64_t vmem_key;                  /* ... key of the potentials' draws (step, neuron) */
    uint64_t threshold_key;             /* ... key of the thresholds' draws (step, neuron) */
    /* Draws whose gap log(u) / log(1 - p) lay within 2^-40 (relative) of a whole
     * number. Only there can a log() that differs from glibc's in the last bit
     * change a spike time; 0 means this run is exact whatever the C library.
     * The only field kept across calls: zero it (or the whole state) once. */
    uint32_t near_ties;
} snn_state;

/*
 * Present one image (784 pixels, 0..255): Poisson input, SNN_STEPS steps,
 * presented again at a higher rate while it evokes fewer than
 * SNN_MIN_SPIKES spikes (at most SNN_MAX_REPRESENTATIONS times more).
 * stream_index keys the image's random input spikes: the engine uses
 * SNN_TEST_STREAM + k for the k-th test image. counts receives each neuron's
 * spikes in the last presentation. Returns the number of presentations.
 */
int snn_run_image(snn_state *s, const uint8_t image[SNN_INPUTS], uint64_t stream_index,
                  uint16_t counts[SNN_NEURONS]);

/* Diehl & Cook's vote: the class whose assigned neurons fired most on
 * average (lowest class on ties), or SNN_NO_DECISION. */
int snn_classify(const uint16_t counts[SNN_NEURONS]);

#endif /* SNN_H */
