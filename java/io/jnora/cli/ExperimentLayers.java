package io.jnora.cli;

import io.jnora.NoraContext;
import io.jnora.backend.CpuBackend;
import io.jnora.model.BertEncoder;
import io.jnora.model.BertWeights;
import io.jnora.model.Calibration;
import io.jnora.model.EmbeddedModel;
import io.jnora.synth.SyntheticLayer;
import io.jnora.text.Encoding;
import io.jnora.text.WordPieceTokenizer;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The layers an experiment runs on: real linear layers of the embedded model with the input rows the
 * model really feeds them (calibration sentences for training, the held-out sentences for the error),
 * or, for quick checks, one synthetic layer ({@code --synthetic MxN}) with outlier-channel inputs.
 */
final class ExperimentLayers {
    /** One layer: its weight W (m×n) and its training and held-out input rows. */
    record Layer(String name, int m, int n, float[] weight, float[] trainRows, int trainCount, float[] testRows,
            int testCount) {}

    private static final int BATCH = 16;

    private ExperimentLayers() {}

    /** The named layers of the embedded model; names are full module paths or their part after "encoder.layer.". */
    static List<Layer> load(NoraContext context, List<String> names, int maxRows, int maxHeldOut, PrintWriter err) {
        for (String name : names) {
            requireLinearName(name.trim());  // before the model is loaded: a typo costs no time
        }
        CpuBackend.ensureOpenBlas();
        err.println("loading the embedded model " + EmbeddedModel.NAME + "...");
        BertWeights weights = EmbeddedModel.weights();
        List<BertWeights.Linear> chosen = new ArrayList<>();
        for (String name : names) {
            chosen.add(find(weights, name.trim()));
        }
        WordPieceTokenizer tokenizer = EmbeddedModel.tokenizer();
        List<Encoding> calib = encode(tokenizer, EmbeddedModel.calibrationSentences());
        List<Encoding> held = encode(tokenizer, EmbeddedModel.heldOutSentences());
        err.println("running the model over " + calib.size() + " calibration and " + held.size()
                + " held-out sentences for the layers' input rows...");
        Map<String, Calibration.Rows> train;
        Map<String, Calibration.Rows> test;
        try (BertEncoder encoder = BertEncoder.create(context, weights)) {
            train = Calibration.rows(encoder, calib, maxRows, BATCH);
            test = Calibration.rows(encoder, held, maxHeldOut, BATCH);
        }
        List<Layer> out = new ArrayList<>();
        for (BertWeights.Linear l : chosen) {
            Calibration.Rows x = train.get(l.name());
            Calibration.Rows t = test.get(l.name());
            out.add(new Layer(l.name(), l.outFeatures(), l.inFeatures(), l.weight(), x.values(), x.count(), t.values(),
                    t.count()));
        }
        return out;
    }

    /**
     * One synthetic layer m×n ({@link SyntheticLayer}: a decaying spectrum, inputs with outlier
     * channels), for tests and quick checks of the commands.
     */
    static Layer synthetic(String shape, int rows, int heldOut) {
        String[] mn = shape.trim().toLowerCase(java.util.Locale.ROOT).split("x");
        int m;
        int n;
        try {
            if (mn.length != 2) {
                throw new NumberFormatException();
            }
            m = Integer.parseInt(mn[0]);
            n = Integer.parseInt(mn[1]);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--synthetic: expected MxN (e.g. 96x64), got '" + shape + "'");
        }
        if (m < 2 || n < 2) {
            throw new IllegalArgumentException("--synthetic: the layer must be at least 2x2, got " + shape);
        }
        SyntheticLayer s = SyntheticLayer.random(7, m, n, Math.min(m, n) / 2, 1, 1f);
        return new Layer("synthetic " + m + "x" + n, m, n, s.baseWeight, s.inputs(8, rows), rows, s.inputs(9, heldOut),
                heldOut);
    }

    private static void requireLinearName(String name) {
        String tail = name.startsWith("encoder.layer.") ? name.substring("encoder.layer.".length()) : name;
        int dot = tail.indexOf('.');
        boolean ok = dot > 0 && tail.substring(0, dot).chars().allMatch(Character::isDigit)
                && BertWeights.LINEAR_SUFFIXES.contains(tail.substring(dot + 1));
        if (!ok) {
            throw new IllegalArgumentException("--layers: no linear layer '" + name + "' in " + EmbeddedModel.NAME
                    + " (names are like encoder.layer.3.attention.self.query, or 3.attention.self.query; suffixes "
                    + BertWeights.LINEAR_SUFFIXES + ")");
        }
    }

    private static BertWeights.Linear find(BertWeights weights, String name) {
        for (BertWeights.Linear l : weights.linearLayers()) {
            if (l.name().equals(name) || l.name().equals("encoder.layer." + name)) {
                return l;
            }
        }
        throw new IllegalArgumentException("--layers: no linear layer '" + name + "' in " + EmbeddedModel.NAME
                + " (names are like encoder.layer.3.attention.self.query, or 3.attention.self.query; blocks 0–"
                + (weights.layers().size() - 1) + ", suffixes " + BertWeights.LINEAR_SUFFIXES + ")");
    }

    private static List<Encoding> encode(WordPieceTokenizer tokenizer, List<String> texts) {
        List<Encoding> out = new ArrayList<>(texts.size());
        for (String s : texts) {
            out.add(tokenizer.encode(s));
        }
        return out;
    }
}
