package io.jnora.model;

import io.jnora.Association;
import io.jnora.JnoraException;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.ShapeMismatchException;
import io.jnora.text.Encoding;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.IntStream;

/**
 * A BERT encoder's forward pass in Java (issue 8): embeddings (word + position + token type, layer
 * norm), then per block multi-head self-attention with the attention mask, output projection, residual
 * and layer norm, feed-forward with exact-erf GELU, residual and layer norm. The six linear layers of
 * each block run on the context's backend, either on their frozen weights ({@link NoraContext#linear})
 * or through a {@link NestedLinear} that carries an adapter ({@link #useAdapters}); the rest is host
 * Java, float32 values with float64 sums.
 *
 * <p>A batch is a list of encodings of any lengths, run without padding: their rows are stacked (Σ
 * lengths × hidden) for the linear layers and attention stays within each sequence. An encoding may
 * carry mask zeros (padding): those tokens are not attended to, as in Hugging Face's BERT, but get
 * hidden states of their own. Not thread-safe (one context, one thread); closing it frees the
 * weights it put on the context.
 */
public final class BertEncoder implements AutoCloseable {
    private final NoraContext context;
    private final BertWeights weights;
    private final BertConfig config;
    private final Map<String, Matrix> baseWeights = new LinkedHashMap<>();
    private Function<String, NestedLinear> adapters;
    private boolean closed;

    private BertEncoder(NoraContext context, BertWeights weights) {
        this.context = context;
        this.weights = weights;
        this.config = weights.config();
        try {
            for (BertWeights.Linear l : weights.linearLayers()) {
                baseWeights.put(l.name(), context.matrix(l.outFeatures(), l.inFeatures(), l.weight()));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** An encoder whose linear layers run on the context's backend; the frozen weights are copied there. */
    public static BertEncoder create(NoraContext context, BertWeights weights) {
        return new BertEncoder(context, weights);
    }

    public BertConfig config() {
        return config;
    }

    public BertWeights weights() {
        return weights;
    }

    public NoraContext context() {
        return context;
    }

    /**
     * Runs each linear layer for which {@code layers} gives a NestedLinear through it (the adapter's
     * output; on its own base, the original W or a SIGMA residual); a layer for which it gives null runs
     * on its frozen weight. E.g. {@code adapterSet::linear}.
     */
    public void useAdapters(Function<String, NestedLinear> layers) {
        this.adapters = layers;
    }

    /** Every linear layer on its frozen weight again. */
    public void useBaseWeights() {
        this.adapters = null;
    }

    /** The last hidden state: the rows of every sequence stacked, (Σ lengths) × hidden, row-major. */
    public float[] forward(List<Encoding> batch) {
        return forward(batch, null);
    }

    /** The last hidden state, showing {@code observer} (if not null) each linear layer's input rows. */
    public float[] forward(List<Encoding> batch, LinearInputObserver observer) {
        requireOpen();
        int[] offsets = offsets(batch);
        int rows = offsets[batch.size()];
        int hidden = config.hidden();
        boolean[] real = realRows(batch, rows);
        float[] h = embeddings(batch, rows);
        for (int i = 0; i < config.layers(); i++) {
            BertWeights.Layer layer = weights.layers().get(i);
            observe(observer, List.of(layer.query().name(), layer.key().name(), layer.value().name()), h, rows, hidden, real);
            float[][] qkv = linears(List.of(layer.query(), layer.key(), layer.value()), h, rows);
            float[] attention = attention(batch, offsets, qkv[0], qkv[1], qkv[2]);
            observe(observer, List.of(layer.attentionOutput().name()), attention, rows, hidden, real);
            float[] a = linears(List.of(layer.attentionOutput()), attention, rows)[0];
            addInPlace(a, h);
            layerNorm(a, rows, layer.attentionNorm());
            observe(observer, List.of(layer.intermediate().name()), a, rows, hidden, real);
            float[] inter = linears(List.of(layer.intermediate()), a, rows)[0];
            int width = config.intermediate();
            IntStream.range(0, rows).parallel().forEach(t -> Gelu.apply(inter, t * width, (t + 1) * width));
            observe(observer, List.of(layer.output().name()), inter, rows, width, real);
            float[] out = linears(List.of(layer.output()), inter, rows)[0];
            addInPlace(out, a);
            layerNorm(out, rows, layer.outputNorm());
            h = out;
        }
        return h;
    }

    /** Sentence embeddings as bge-small-en-v1.5 defines them: the [CLS] (first) row of each sequence, L2-normalised. */
    public float[][] embed(List<Encoding> batch) {
        return clsPooledNormalized(forward(batch), batch, config.hidden());
    }

    /** The first row of each sequence of a stacked hidden state, each scaled to unit L2 norm. */
    public static float[][] clsPooledNormalized(float[] hiddenStates, List<Encoding> batch, int hidden) {
        float[][] out = new float[batch.size()][hidden];
        int offset = 0;
        for (int b = 0; b < batch.size(); b++) {
            double norm = 0;
            for (int j = 0; j < hidden; j++) {
                double v = hiddenStates[offset * hidden + j];
                norm += v * v;
            }
            double scale = 1 / Math.max(Math.sqrt(norm), 1e-12);
            for (int j = 0; j < hidden; j++) {
                out[b][j] = (float) (hiddenStates[offset * hidden + j] * scale);
            }
            offset += batch.get(b).length();
        }
        return out;
    }

    private int[] offsets(List<Encoding> batch) {
        if (batch.isEmpty()) {
            throw new IllegalArgumentException("BertEncoder.forward: the batch is empty");
        }
        int[] offsets = new int[batch.size() + 1];
        for (int b = 0; b < batch.size(); b++) {
            int length = batch.get(b).length();
            if (length < 1 || length > config.maxPositions()) {
                throw new ShapeMismatchException("BertEncoder.forward: sequence " + b + " has " + length
                        + " tokens; the model takes 1 to " + config.maxPositions());
            }
            offsets[b + 1] = offsets[b] + length;
        }
        return offsets;
    }

    private static boolean[] realRows(List<Encoding> batch, int rows) {
        boolean[] real = new boolean[rows];
        int t = 0;
        for (Encoding e : batch) {
            for (int m : e.attentionMask()) {
                real[t++] = m != 0;
            }
        }
        return real;
    }

    private float[] embeddings(List<Encoding> batch, int rows) {
        int hidden = config.hidden();
        float[] h = new float[rows * hidden];
        float[] word = weights.wordEmbeddings();
        float[] position = weights.positionEmbeddings();
        float[] type = weights.tokenTypeEmbeddings();
        int t = 0;
        for (int b = 0; b < batch.size(); b++) {
            Encoding e = batch.get(b);
            for (int p = 0; p < e.length(); p++, t++) {
                int id = e.ids()[p];
                int tt = e.typeIds()[p];
                if (id < 0 || id >= config.vocabularySize()) {
                    throw new JnoraException("BertEncoder.forward: sequence " + b + " token " + p + " has id " + id
                            + ", outside the vocabulary [0, " + config.vocabularySize() + ")");
                }
                if (tt < 0 || tt >= config.tokenTypes()) {
                    throw new JnoraException("BertEncoder.forward: sequence " + b + " token " + p + " has type id " + tt
                            + ", outside [0, " + config.tokenTypes() + ")");
                }
                for (int j = 0; j < hidden; j++) {
                    // (word + type) + position: the graph's order of the two additions, for float32 agreement
                    h[t * hidden + j] = (word[id * hidden + j] + type[tt * hidden + j]) + position[p * hidden + j];
                }
            }
        }
        layerNorm(h, rows, weights.embeddingNorm());
        return h;
    }

    /** LayerNorm over each row: (x − mean) / √(var + ε) · γ + β, with population variance, in float64. */
    private void layerNorm(float[] x, int rows, BertWeights.Norm norm) {
        int hidden = config.hidden();
        double eps = config.layerNormEps();
        IntStream.range(0, rows).parallel().forEach(t -> {
            int o = t * hidden;
            double mean = 0;
            for (int j = 0; j < hidden; j++) {
                mean += x[o + j];
            }
            mean /= hidden;
            double var = 0;
            for (int j = 0; j < hidden; j++) {
                double d = x[o + j] - mean;
                var += d * d;
            }
            double inv = 1 / Math.sqrt(var / hidden + eps);
            for (int j = 0; j < hidden; j++) {
                x[o + j] = (float) ((x[o + j] - mean) * inv * norm.gamma()[j] + norm.beta()[j]);
            }
        });
    }

    /**
     * Scaled dot-product attention per sequence and head: softmax(q kᵀ / √d + mask) v, where masked keys
     * get weight 0 (Hugging Face adds the float32 minimum, which underflows to the same 0). A sequence
     * whose keys are all masked attends uniformly to all of them, as that addition does.
     */
    private float[] attention(List<Encoding> batch, int[] offsets, float[] q, float[] k, float[] v) {
        int hidden = config.hidden();
        int heads = config.heads();
        int d = config.headDim();
        double scale = 1 / Math.sqrt(d);
        float[] out = new float[q.length];
        IntStream.range(0, batch.size() * heads).parallel().forEach(job -> {
            int b = job / heads;
            int head = job % heads;
            int o = offsets[b];
            int length = offsets[b + 1] - o;
            int[] mask = batch.get(b).attentionMask();
            boolean anyKey = false;
            for (int m : mask) {
                anyKey |= m != 0;
            }
            double[] p = new double[length];
            for (int i = 0; i < length; i++) {
                int qi = (o + i) * hidden + head * d;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < length; j++) {
                    if (anyKey && mask[j] == 0) {
                        p[j] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    int kj = (o + j) * hidden + head * d;
                    double s = 0;
                    for (int c = 0; c < d; c++) {
                        s += q[qi + c] * k[kj + c];
                    }
                    p[j] = s * scale;
                    max = Math.max(max, p[j]);
                }
                double sum = 0;
                for (int j = 0; j < length; j++) {
                    p[j] = p[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(p[j] - max);
                    sum += p[j];
                }
                for (int c = 0; c < d; c++) {
                    double acc = 0;
                    for (int j = 0; j < length; j++) {
                        if (p[j] != 0) {
                            acc += p[j] * v[(o + j) * hidden + head * d + c];
                        }
                    }
                    out[qi + c] = (float) (acc / sum);
                }
            }
        });
        return out;
    }

    /** The given linear layers (sharing one input) on the backend: Y = X Wᵀ (+ adapter) + b, on the host. */
    private float[][] linears(List<BertWeights.Linear> layers, float[] x, int rows) {
        float[][] out = new float[layers.size()][];
        try (Matrix xm = context.matrix(rows, layers.get(0).inFeatures(), x)) {
            for (int i = 0; i < layers.size(); i++) {
                BertWeights.Linear l = layers.get(i);
                NestedLinear adapted = adapters == null ? null : adapters.apply(l.name());
                try (Matrix y = context.zeros(rows, l.outFeatures())) {
                    if (adapted != null) {
                        if (adapted.outFeatures() != l.outFeatures() || adapted.inFeatures() != l.inFeatures()) {
                            throw new ShapeMismatchException("BertEncoder: the adapter layer for " + l.name() + " is "
                                    + adapted.outFeatures() + "×" + adapted.inFeatures() + ", the model's is "
                                    + l.outFeatures() + "×" + l.inFeatures());
                        }
                        adapted.forward(xm, y, Association.AUTO);
                    } else {
                        context.linear(xm, baseWeights.get(l.name()), y);
                    }
                    float[] yh = y.toArray();
                    float[] bias = l.bias();
                    int m = l.outFeatures();
                    for (int t = 0; t < rows; t++) {
                        for (int j = 0; j < m; j++) {
                            yh[t * m + j] += bias[j];
                        }
                    }
                    out[i] = yh;
                }
            }
        }
        return out;
    }

    private static void addInPlace(float[] a, float[] b) {
        for (int i = 0; i < a.length; i++) {
            a[i] += b[i];
        }
    }

    private static void observe(LinearInputObserver observer, List<String> layers, float[] x, int rows, int cols,
            boolean[] real) {
        if (observer == null) {
            return;
        }
        int kept = 0;
        for (boolean r : real) {
            kept += r ? 1 : 0;
        }
        if (kept == rows) {
            observer.observe(layers, x, rows, cols);
            return;
        }
        float[] compact = new float[kept * cols];
        int at = 0;
        for (int t = 0; t < rows; t++) {
            if (real[t]) {
                System.arraycopy(x, t * cols, compact, at * cols, cols);
                at++;
            }
        }
        if (kept > 0) {
            observer.observe(layers, compact, kept, cols);
        }
    }

    /** The names of the linear layers in depth order. */
    public List<String> linearLayerNames() {
        return new ArrayList<>(baseWeights.keySet());
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("BertEncoder is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Matrix m : baseWeights.values()) {
            m.close();
        }
        baseWeights.clear();
    }
}
