/*
 * snn.c -- inference of an exported spiking network, one 1 ms step at a time.
 *
 * This is the engine's `present` and `run_image` (snn-dse, models/engine_numba.py)
 * with learning left out. Every floating-point operation is the engine's, in
 * the same order and precision: float32 for the neuron state, float64 for the
 * Poisson sampler. Build with -ffp-contract=off and without -ffast-math (a fused
 * multiply-add rounds once where the engine rounds twice).
 *
 * What is fixed point: the input weights are integer codes (value = code x
 * eps, eps folded into the g_e gain), and the membrane potentials and
 * thresholds are codes of their Q formats. The leaky-integrate step itself is
 * float32 arithmetic on those values, rounded back onto the grid each step,
 * exactly as the engine does it.
 *
 * Step order of one step t (docs/model.md, "Step order"):
 *   1. inhibition from the previous step's spikes (one-step synaptic delay);
 *      with SNN_LAYER_LOOP_STEPS 1 the inhibitory layer updates here and its
 *      spikes inhibit at once;
 *   2. the inputs that spike at t add their weight codes to g_e;
 *   3. inhibitory layer (two-step loop), then the excitatory neurons;
 *   4. spikes: V >= V_th + theta -> V = V_reset and a refractory hold.
 */
#include <math.h>
#include <string.h>

#define SNN_MODEL_DATA /* snn_model.h defines its arrays here, and only here */
#include "snn.h"

/* ---- counter-based random numbers (models/encoding.py) --------------------- */

#define GOLDEN UINT64_C(0x9E3779B97F4A7C15)
#define MIX1 UINT64_C(0xBF58476D1CE4E5B9)
#define MIX2 UINT64_C(0x94D049BB133111EB)
#define STREAM_SALT UINT64_C(0xD1B54A32D192ED03)
#define ROUNDING_SALT UINT64_C(0xA5A5F00DCAFEBEEF) /* rounding draws: a stream of their own */

/* SplitMix64's output function. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * MIX1;
    z = (z ^ (z >> 27)) * MIX2;
    return z ^ (z >> 31);
}

/* The key of one presentation of one image: a pure function of (seed, image, presentation). */
static uint64_t stream_seed(uint64_t image_index, uint64_t presentation)
{
    uint64_t s = (uint64_t)SNN_SEED * MIX1 + image_index * MIX2 + presentation * GOLDEN;
    uint64_t first = mix64(s + GOLDEN);
    return mix64((first ^ STREAM_SALT) + GOLDEN);
}

/* A double in (0, 1] from 64 random bits: 53 bits, never 0 (safe for log). */
static double open0_uniform(uint64_t bits)
{
    return (double)((bits >> 11) + 1) * 0x1p-53;
}

/* SplitMix64 advances its state by GOLDEN per draw, so draw d of a stream
 * is at hand without the d draws before it. */
static double input_uniform(const snn_state *s, uint32_t draw)
{
    return open0_uniform(mix64(s->input_stream + ((uint64_t)draw + 1) * GOLDEN));
}

/* Add one weight code to the input drive. Codes sum exactly in 32-bit
 * integers whenever 784 x the largest code stays below 2^24 (weights of at
 * most 14 bits), where the engine's float32 sum is exact too; wider codes
 * are summed in float32 in the engine's order. */
#if SNN_DRIVE_IS_INT
#define ADD_CODE(acc, code) ((acc) += (snn_drive_t)(code))
#else
#define ADD_CODE(acc, code) ((acc) = (float)((double)(acc) + (double)(code)))
#endif

/* ---- Poisson input (models/encoding.py, poisson_csr) ------------------------
 * Pixel x fires with probability p = x / 255 x f_max dt per step. The gaps
 * between spikes are 1 + Geometric(p), sampled by inversion:
 *     gap = floor(log(u) / log(1 - p)),   u uniform in (0, 1].
 * The engine draws input 0's gaps first, then input 1's, ... from one stream.
 * With SNN_INPUT_RASTER, plan_inputs draws them all and marks a bit raster.
 * Without, it walks all draws once to find where each input's draws start;
 * later gaps are drawn again when they are due (same draw index, same number).
 */

static double geometric_gap(const snn_state *s, uint32_t draw, double log_q, double *ratio)
{
    *ratio = log(input_uniform(s, draw)) / log_q;
    return floor(*ratio);
}

/* A gap whose ratio lies this close to a whole number could floor the other way
 * under a log() that rounds its last bit differently from the engine's (glibc). */
static int is_near_tie(double ratio)
{
    double whole = floor(ratio + 0.5);
    double distance = ratio > whole ? ratio - whole : whole - ratio;
    return whole >= 1.0 && distance <= ratio * 0x1p-40;
}

/* Add input i's weight codes to the step's drive, cleared first at the step's first spike. */
static void add_input_row(snn_state *s, int i, int first)
{
    const snn_weight_t *row = snn_weights[i];
    int j;
    if (first)
        memset(s->drive, 0, sizeof s->drive);
    for (j = 0; j < SNN_NEURONS; ++j)
        ADD_CODE(s->drive[j], row[j]);
}

static void add_drive_to_ge(snn_state *s)
{
    int j;
    for (j = 0; j < SNN_NEURONS; ++j)
        s->ge[j] += (float)s->drive[j];
}

#if SNN_INPUT_RASTER
#define MARK(s, t, i) ((s)->raster[t][(i) / 64] |= (uint64_t)1 << ((i) % 64))

static int lowest_bit(uint64_t x)
{
#if defined(__GNUC__)
    return __builtin_ctzll(x);
#else
    int n = 0;
    while (!(x & 1u)) {
        x >>= 1;
        ++n;
    }
    return n;
#endif
}

/* Draw every gap of every input, in the engine's order, into the raster. */
static void plan_inputs(snn_state *s, const uint8_t *image, double rate)
{
    double per_level = rate / 255.0, p, t, ratio, log_q;
    uint32_t draw = 0;
    int i, step;
    memset(s->raster, 0, sizeof s->raster);
    for (i = 0; i < SNN_INPUTS; ++i) {
        p = (double)image[i] * per_level;
        if (p <= 0.0)
            continue;
        if (p >= 1.0) {
            for (step = 0; step < SNN_STEPS; ++step)
                MARK(s, step, i);
            continue;
        }
        log_q = log1p(-p);
        for (t = -1.0;;) {
            t += 1.0 + geometric_gap(s, draw++, log_q, &ratio);
            s->near_ties += (uint32_t)is_near_tie(ratio);
            if (t >= (double)SNN_STEPS)
                break;
            MARK(s, (int)t, i);
        }
    }
}

/* Step 2: the inputs spiking at step t add their weight rows to g_e, in
 * ascending input order as the engine does. */
static void input_spikes(snn_state *s, const uint8_t *image, int t)
{
    int w, any = 0;
    (void)image;
    for (w = 0; w < SNN_RASTER_WORDS; ++w) {
        uint64_t bits = s->raster[t][w];
        while (bits) {
            add_input_row(s, w * 64 + lowest_bit(bits), !any);
            any = 1;
            bits &= bits - 1;
        }
    }
    if (any)
        add_drive_to_ge(s);
}

#else
#define NO_SPIKE (-1)
#define EVERY_STEP UINT32_MAX /* next_draw of an input with p >= 1: it spikes every step, no draws */

/* Step of the spike after step t of an input, or NO_SPIKE past the presentation. */
static int16_t next_spike_after(snn_state *s, int i, int t, const uint8_t *image)
{
    double ratio, step;
    if (s->next_draw[i] == EVERY_STEP)
        return (int16_t)(t + 1 < SNN_STEPS ? t + 1 : NO_SPIKE);
    step = (double)t + 1.0 + geometric_gap(s, s->next_draw[i]++, s->log_q[image[i]], &ratio);
    return (int16_t)(step < (double)SNN_STEPS ? (int)step : NO_SPIKE);
}

/* First pass over this presentation's draws: each input's first spike and its next draw. */
static void plan_inputs(snn_state *s, const uint8_t *image, double rate)
{
    double per_level = rate / 255.0, p, t, ratio;
    uint32_t draw = 0;
    int level, i;

    for (level = 1; level < 256; ++level) {
        p = (double)level * per_level;
        s->log_q[level] = p < 1.0 ? log1p(-p) : 0.0;
    }
    for (i = 0; i < SNN_INPUTS; ++i) {
        p = (double)image[i] * per_level;
        s->next_spike[i] = NO_SPIKE;
        if (p <= 0.0)
            continue;
        if (p >= 1.0) {
            s->next_spike[i] = 0;
            s->next_draw[i] = EVERY_STEP;
            continue;
        }
        s->next_draw[i] = draw;
        for (t = -1.0;;) {
            t += 1.0 + geometric_gap(s, draw++, s->log_q[image[i]], &ratio);
            s->near_ties += (uint32_t)is_near_tie(ratio);
            if (t >= (double)SNN_STEPS)
                break;
            if (s->next_spike[i] == NO_SPIKE) {
                s->next_spike[i] = (int16_t)t;
                s->next_draw[i] = draw;
            }
        }
    }
}

/* Step 2: the inputs spiking at step t add their weight rows to g_e, in
 * ascending input order as the engine does. */
static void input_spikes(snn_state *s, const uint8_t *image, int t)
{
    int i, any = 0;
    for (i = 0; i < SNN_INPUTS; ++i) {
        if (s->next_spike[i] != t)
            continue;
        add_input_row(s, i, !any);
        any = 1;
        s->next_spike[i] = next_spike_after(s, i, t, image);
    }
    if (any)
        add_drive_to_ge(s);
}
#endif

/* ---- fixed-point grids (models/neurons.py) ------------------------------------
 * A value x goes on the grid k x eps of its Q format: saturate to [lo, hi],
 * then round y = x / eps to an integer k. Every step is exact: eps is a power
 * of two, so x / eps = x x (1 / eps), and the codes of a format of at most 24
 * bits are whole floats, so floor() is a conversion to int, corrected for
 * negative fractions. Nearest rounds half up; stochastic rounds up when a
 * uniform u >= 1 - (y - k). The engine's stochastic draws come from two kinds
 * of stream: the rest and reset potentials draw one after the other from the
 * presentation's rounding stream; the integrating potentials and the
 * thresholds draw number t N + j (step t, neuron j) of a stream of their own.
 */

#define VMEM_SALT UINT64_C(0x3C6EF372FE94F82B)
#define THRESHOLD_SALT UINT64_C(0x7E57AB1E5EEDF00D)

#if SNN_ROUNDING == SNN_ROUND_STOCHASTIC
/* The next uniform in [0, 1) of the presentation's rounding stream. */
static double rounding_uniform(snn_state *s)
{
    s->rounding_stream += GOLDEN;
    return 1.0 - open0_uniform(mix64(s->rounding_stream));
}

/* Uniform in [0, 1) number t N + j of a stream: no state to carry. */
static double counter_uniform(uint64_t key, int t, int j)
{
    uint64_t counter = (uint64_t)t * SNN_NEURONS + (uint64_t)j;
    return 1.0 - open0_uniform(mix64(key + (counter + 1) * GOLDEN));
}
#define SEQUENTIAL_UNIFORM(s) rounding_uniform(s)
#else
#define SEQUENTIAL_UNIFORM(s) ((void)(s), 0.0) /* deterministic rounding draws nothing */
#endif

#if SNN_VMEM_QUANTIZED || SNN_VTH_MODE == SNN_VTH_STOCHASTIC
/* floor(x x inv_eps) after saturating x to [lo, hi]; *fraction receives y - floor(y). */
static int32_t grid_floor(float x, float inv_eps, float lo, float hi, float *fraction)
{
    float y;
    int32_t code;
    x = x > lo ? x : lo;
    x = x < hi ? x : hi;
    y = x * inv_eps;
    code = (int32_t)y;       /* toward zero ... */
    code -= (float)code > y; /* ... then down (no branches, so the neuron loop vectorises) */
    *fraction = y - (float)code;
    return code;
}
#endif

#if SNN_VMEM_QUANTIZED
/* Code of a potential on the vmem grid; u: the uniform of stochastic rounding, unused otherwise. */
static snn_vmem_t v_code(float x, double u)
{
    float fraction;
    int32_t code = grid_floor(x, 1.0f / SNN_V_EPS, SNN_V_LO, SNN_V_HI, &fraction);
#if SNN_ROUNDING == SNN_ROUND_NEAREST
    code += fraction >= 0.5f;
    (void)u;
#elif SNN_ROUNDING == SNN_ROUND_STOCHASTIC
    code += u >= 1.0 - (double)fraction;
#else
    (void)u;
#endif
    return (snn_vmem_t)code;
}
#define V_VALUE(stored) ((float)(stored) * SNN_V_EPS)
#define V_SEQUENTIAL(s, x) v_code((x), SEQUENTIAL_UNIFORM(s)) /* rest and reset */
#else
#define V_VALUE(stored) (stored)
#define V_SEQUENTIAL(s, x) ((void)(s), (x))
#endif

/* Does neuron j, at potential v, reach its threshold V_th + theta at step t? */
static int reaches_threshold(const snn_state *s, int j, float v, int t)
{
#if SNN_VTH_MODE == SNN_VTH_CODES
    (void)s, (void)t;
    return v >= (float)snn_thresholds[j] * SNN_TH_EPS;
#elif SNN_VTH_MODE == SNN_VTH_STOCHASTIC
    /* The threshold rounds to k eps or (k + 1) eps, up when u >= 1 - fraction:
     * only a potential between the two needs the draw. */
    float fraction;
    int32_t k = grid_floor(snn_thresholds[j], 1.0f / SNN_TH_EPS, SNN_TH_LO, SNN_TH_HI, &fraction);
    if (v >= (float)(k + 1) * SNN_TH_EPS)
        return 1;
    return v >= (float)k * SNN_TH_EPS && counter_uniform(s->threshold_key, t, j) < 1.0 - (double)fraction;
#else
    (void)s, (void)t;
    return v >= snn_thresholds[j];
#endif
}

/* ---- one presentation -------------------------------------------------------- */

static void reset_neurons(snn_state *s)
{
    int j;
    for (j = 0; j < SNN_NEURONS; ++j) {
        s->v[j] = V_SEQUENTIAL(s, SNN_V_REST);
        s->ge[j] = 0.0f;
        s->gi[j] = 0.0f;
        s->refractory[j] = 0;
        s->spiked[j] = 0;
#if SNN_INHIBITORY_LAYER
        s->vi[j] = SNN_I_V_REST;
        s->gei[j] = 0.0f;
        s->refractory_inh[j] = 0;
        s->spiked_inh[j] = 0;
#endif
    }
}

/* Step 1: g_i += w_inh x (spikes of the previous step, not counting the neuron's own). */
static void inhibit(float *gi, const uint8_t *spiked_before, int n_spiked)
{
    float all_in, self_in;
    int k;
    if (n_spiked == 0)
        return;
    all_in = SNN_W_INH * (float)n_spiked;
    self_in = SNN_W_INH * (float)(n_spiked - 1);
    for (k = 0; k < SNN_NEURONS; ++k)
        gi[k] += spiked_before[k] ? self_in : all_in;
}


#if SNN_INHIBITORY_LAYER
/* Step 3a: inhibitory LIF neurons driven by their excitatory partner. Returns spikes. */
static int inhibitory_layer(snn_state *s)
{
    int j, n_spiked = 0;
    for (j = 0; j < SNN_NEURONS; ++j) {
        float vi = s->vi[j];
        float g = s->gei[j] * SNN_I_GE_GAIN;
        float vn = vi + SNN_I_DT_TAU_M * ((SNN_I_V_REST - vi) + g * (SNN_I_E_EXC - vi));
        s->gei[j] *= SNN_I_GE_DECAY;
        s->spiked_inh[j] = 0;
        if (s->refractory_inh[j] > 0) {
            s->refractory_inh[j]--;
        } else if (vn >= SNN_I_V_TH) {
            s->vi[j] = SNN_I_V_RESET;
            s->refractory_inh[j] = SNN_I_REFRACTORY;
            s->spiked_inh[j] = 1;
            n_spiked++;
        } else {
            s->vi[j] = vn;
        }
    }
    return n_spiked;
}
#endif

/* Step 3b, FSpiNN Eq. 1-2: conductance-based LIF, one Euler step driven by the
 * step-averaged conductances, then exact exponential decay of g_e and g_i.
 *   V' = V + dt/tau_m ((V_rest - V) + g_e G_e (E_exc - V) + g_i G_i (E_inh - V)),
 * clamped at E_inh, rounded onto the V grid; a refractory neuron holds its V. */
static void excitatory_layer(snn_state *s, int t)
{
    int j;
    (void)t; /* the step numbers the stochastic draws */
    for (j = 0; j < SNN_NEURONS; ++j) {
        snn_vmem_t stored = s->v[j];
        uint8_t held = s->refractory[j] > 0;
        float vj = V_VALUE(stored);
        float vn = vj + SNN_DT_TAU_M * (((SNN_V_REST - vj) + (s->ge[j] * SNN_GE_GAIN) * (SNN_E_EXC - vj))
                                        + (s->gi[j] * SNN_GI_GAIN) * (SNN_E_INH - vj));
        vn = vn > SNN_E_INH ? vn : SNN_E_INH;
#if !SNN_VMEM_QUANTIZED
        stored = held ? stored : vn;
#elif SNN_ROUNDING == SNN_ROUND_STOCHASTIC
        if (!held) /* draw (t, j) is counter-based: a held neuron's draw is simply not needed */
            stored = v_code(vn, counter_uniform(s->vmem_key, t, j));
#else
        {   /* rounded whether held or not, then selected: no branches, so the loop vectorises */
            snn_vmem_t rounded = v_code(vn, 0.0);
            stored = held ? stored : rounded;
        }
#endif
        s->v[j] = stored;
        s->refractory[j] = (uint8_t)(s->refractory[j] - held);
        s->ge[j] *= SNN_GE_DECAY;
        s->gi[j] *= SNN_GI_DECAY;
    }
}

/* Step 4: V >= V_th + theta fires (a held neuron sits at V_reset, below it);
 * all neurons are tested before any reset, and the resets draw in neuron
 * order, as the engine's do. Returns spikes. */
static int fire(snn_state *s, uint16_t *counts, int t)
{
    int j, n_spiked = 0;
    for (j = 0; j < SNN_NEURONS; ++j) {
        s->spiked[j] = (uint8_t)reaches_threshold(s, j, V_VALUE(s->v[j]), t);
        n_spiked += s->spiked[j];
    }
    if (n_spiked == 0)
        return 0;
    for (j = 0; j < SNN_NEURONS; ++j) {
        if (!s->spiked[j])
            continue;
        s->v[j] = V_SEQUENTIAL(s, SNN_V_RESET);
        s->refractory[j] = SNN_REFRACTORY;
        counts[j]++;
    }
    return n_spiked;
}

/* One presentation of SNN_STEPS steps; adds to counts and returns the excitatory spikes. */
static int present(snn_state *s, const uint8_t *image, double rate, uint16_t *counts)
{
    int t, n_spiked = 0, total = 0;
#if SNN_INHIBITORY_LAYER
    int n_inh = 0;
#endif
    reset_neurons(s);
    /* the counter-drawn streams are keyed by the rounding stream after the rest potentials */
    s->vmem_key = s->rounding_stream ^ VMEM_SALT;
    s->threshold_key = s->rounding_stream ^ THRESHOLD_SALT;
    plan_inputs(s, image, rate);
    for (t = 0; t < SNN_STEPS; ++t) {
#if SNN_INHIBITORY_LAYER
        int j;
        for (j = 0; j < SNN_NEURONS; ++j)
            if (s->spiked[j])
                s->gei[j] += SNN_W_EI;
#if SNN_LAYER_LOOP_STEPS == 1
        n_inh = inhibitory_layer(s);
#endif
        inhibit(s->gi, s->spiked_inh, n_inh);
#else
        inhibit(s->gi, s->spiked, n_spiked);
#endif
        input_spikes(s, image, t);
#if SNN_INHIBITORY_LAYER && SNN_LAYER_LOOP_STEPS == 2
        n_inh = inhibitory_layer(s);
#endif
        excitatory_layer(s, t);
        n_spiked = fire(s, counts, t);
        total += n_spiked;
    }
    return total;
}

int snn_run_image(snn_state *s, const uint8_t image[SNN_INPUTS], uint64_t stream_index,
                  uint16_t counts[SNN_NEURONS])
{
    int rep;
    for (rep = 0; rep <= SNN_MAX_REPRESENTATIONS; ++rep) {
        /* Too few spikes: present again, f_max raised by the boost each time. */
        double rate = SNN_RATE_PER_STEP + (double)rep * SNN_BOOST_PER_STEP;
        s->input_stream = stream_seed(stream_index, (uint64_t)rep);
        s->rounding_stream = s->input_stream ^ ROUNDING_SALT;
        memset(counts, 0, SNN_NEURONS * sizeof counts[0]);
        if (present(s, image, rate, counts) >= SNN_MIN_SPIKES)
            break;
    }
    return rep <= SNN_MAX_REPRESENTATIONS ? rep + 1 : rep;
}

int snn_classify(const uint16_t counts[SNN_NEURONS])
{
    uint32_t sum[SNN_CLASSES] = {0};
    double best_score = 0.0;
    int best = SNN_NO_DECISION, j, c;
    for (j = 0; j < SNN_NEURONS; ++j)
        if (snn_labels[j] >= 0)
            sum[snn_labels[j]] += counts[j];
    for (c = 0; c < SNN_CLASSES; ++c) {
        /* the mean count of the class's neurons, divided as numpy divides */
        double n = snn_class_sizes[c] > 0 ? (double)snn_class_sizes[c] : 1.0;
        double score = (double)sum[c] / n;
        if (score > best_score) {
            best_score = score;
            best = c;
        }
    }
    return best;
}
