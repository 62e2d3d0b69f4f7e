package io.jnora.peft;

import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.ShapeMismatchException;
import io.jnora.adapter.AdapterLayer;
import io.jnora.backend.HostLapack;
import java.util.Objects;

/**
 * One module of a plain (non-nested) LoRA adapter, PEFT's layout (SPEC §2.7, §5):
 * {@code ΔW = s · loraB · loraA} with {@code loraA} (rank × in) and {@code loraB} (out × rank),
 * row-major. {@code alpha} and {@code rsLora} record how PEFT's config gave {@code s}
 * ({@code alpha / rank}, or {@code alpha / √rank} with rsLoRA); {@code s} is what is applied.
 * {@code fanInFanOut} says the module's base weight is stored in × out (transformers' Conv1D);
 * the factors keep their layout either way, as in PEFT. Arrays are held by reference.
 *
 * <p>It runs through the nested layer's kernels as the nested layer with {@code r = r_in = rank},
 * outer factors {@code A = loraA}, {@code B = loraB} and identity inner factors: then
 * {@code ΔW = s·B·I·I·A}, and with the cached effective factors ({@code A_eff = I·A = A},
 * {@code B_eff = B·I = B}, exact) a forward costs what a LoRA's costs. That is an inference path:
 * the trainable factors of such a layer are the identities, not loraA and loraB; training a plain
 * LoRA's own factors is not offered here.
 *
 * <p>Thread safety: its arrays are not copied; safe to share between threads as long as nobody writes to them.
 */
public record LoraLayer(
        String name,
        int inFeatures,
        int outFeatures,
        int rank,
        double alpha,
        boolean rsLora,
        float scale,
        boolean fanInFanOut,
        float[] loraA,
        float[] loraB) {

    /** The {@code init} recorded in a nested adapter file for a layer imported from PEFT. */
    public static final String IMPORTED_INIT = "peft";

    public LoraLayer {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(loraA, "loraA");
        Objects.requireNonNull(loraB, "loraB");
        if (inFeatures < 1 || outFeatures < 1 || rank < 1) {
            throw new ShapeMismatchException("LoraLayer \"" + name + "\": in = " + inFeatures + ", out = " + outFeatures
                    + " and rank = " + rank + " must all be ≥ 1");
        }
        if (loraA.length != (long) rank * inFeatures || loraB.length != (long) outFeatures * rank) {
            throw new ShapeMismatchException("LoraLayer \"" + name + "\": lora_A holds " + loraA.length + " values and"
                    + " lora_B " + loraB.length + ", expected " + rank + "×" + inFeatures + " and " + outFeatures + "×" + rank);
        }
    }

    /**
     * A nested layer as a plain LoRA (SPEC §2.7): {@code loraB = B·B'}, {@code loraA = A'·A}, rank r_in.
     * With the residual base (SIGMA), the change against the original W is
     * {@code s(BB'A'A − BB'₀A'₀A)}: rank 2·r_in, {@code loraA = [A'A ; A'₀A]},
     * {@code loraB = [BB' , −BB'₀]}, so that PEFT on the original weight computes what the nested layer
     * computes on W_res. {@code alpha = s·rank} so that PEFT's alpha/rank is exactly s.
     */
    public static LoraLayer fromNested(AdapterLayer layer, String module) {
        int m = layer.outFeatures();
        int n = layer.inFeatures();
        int r = layer.outerRank();
        int rIn = layer.innerRank();
        float[] effA = HostLapack.multiply(false, false, rIn, n, r, layer.innerA(), layer.outerA());
        float[] effB = HostLapack.multiply(false, false, m, rIn, r, layer.outerB(), layer.innerB());
        float[] loraA = effA;
        float[] loraB = effB;
        int k = rIn;
        if (layer.usesResidualBase()) {
            float[] effA0 = HostLapack.multiply(false, false, rIn, n, r, layer.innerA0(), layer.outerA());
            float[] effB0 = HostLapack.multiply(false, false, m, rIn, r, layer.outerB(), layer.innerB0());
            k = 2 * rIn;
            loraA = new float[k * n];
            System.arraycopy(effA, 0, loraA, 0, rIn * n);
            System.arraycopy(effA0, 0, loraA, rIn * n, rIn * n);
            loraB = new float[m * k];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < rIn; j++) {
                    loraB[i * k + j] = effB[i * rIn + j];
                    loraB[i * k + rIn + j] = -effB0[i * rIn + j];
                }
            }
        }
        return new LoraLayer(module, n, m, k, (double) layer.scale() * k, false, layer.scale(), false, loraA, loraB);
    }

    /**
     * The nested form: {@code r = r_in = rank}, {@code A = loraA}, {@code B = loraB}, {@code A' = B' = I},
     * recorded with init {@value #IMPORTED_INIT}, rule lora, {@code alpha = s·rank} and no SVD, scaling or
     * split (SPEC §5). A nested layer needs {@code r ≤ min(out, in)}; a LoRA of higher rank is first folded
     * exactly to rank {@code min(out, in)}: {@code B·A} becomes {@code (B·A)·I_in} when in ≤ out, else
     * {@code I_out·(B·A)} (the product has no higher rank, so nothing is lost).
     */
    public AdapterLayer toNested() {
        int m = outFeatures;
        int n = inFeatures;
        int k = rank;
        float[] a = loraA;
        float[] b = loraB;
        if (rank > Math.min(m, n)) {
            float[] product = HostLapack.multiply(false, false, m, n, rank, loraB, loraA);
            if (n <= m) {
                k = n;
                b = product;
                a = identity(n);
            } else {
                k = m;
                b = identity(m);
                a = product;
            }
        }
        float[] eye = identity(k);
        return new AdapterLayer(name, m, n, k, k, (double) scale * k, "lora", scale, "none", IMPORTED_INIT, "none",
                "none", a, b, eye, eye.clone(), null, null);
    }

    /**
     * This module on a context's backend over its base weight, given in the layout the module's
     * checkpoint stores it: out × in, or in × out when {@link #fanInFanOut()} (then transposed here).
     */
    public NestedLinear build(NoraContext context, float[] baseWeight) {
        return fanInFanOut ? build(context, baseWeight, inFeatures, outFeatures)
                : build(context, baseWeight, outFeatures, inFeatures);
    }

    /** As {@link #build(NoraContext, float[])}, checking the base weight's stored shape (rows × cols) too. */
    public NestedLinear build(NoraContext context, float[] baseWeight, int rows, int cols) {
        int wantRows = fanInFanOut ? inFeatures : outFeatures;
        int wantCols = fanInFanOut ? outFeatures : inFeatures;
        if (rows != wantRows || cols != wantCols || baseWeight.length != (long) rows * cols) {
            throw new ShapeMismatchException("LoraLayer.build: module \"" + name + "\" (lora_A " + rank + "×" + inFeatures
                    + ", lora_B " + outFeatures + "×" + rank + ") needs a base weight " + wantRows + "×" + wantCols
                    + (fanInFanOut ? " (in × out: fan_in_fan_out)" : " (out × in)") + ", got " + rows + "×" + cols
                    + " holding " + baseWeight.length + " values");
        }
        float[] w = fanInFanOut ? transpose(baseWeight, rows, cols) : baseWeight;
        return toNested().build(context, w);
    }

    private static float[] identity(int k) {
        float[] eye = new float[k * k];
        for (int i = 0; i < k; i++) {
            eye[i * k + i] = 1f;
        }
        return eye;
    }

    private static float[] transpose(float[] w, int rows, int cols) {
        float[] t = new float[w.length];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t[j * rows + i] = w[i * cols + j];
            }
        }
        return t;
    }
}
