package io.jnora.init;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.ShapeMismatchException;
import io.jnora.stats.ActivationStats;
import org.junit.jupiter.api.Test;

/** The input scaling's refusals (SPEC §1): typed, naming the operation, the channel and the size n. */
class InputScalingTest {
    private static void assertMentions(RuntimeException e, String... fragments) {
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "'" + f + "' in: " + e.getMessage());
        }
    }

    @Test
    void aBadDiagonalEntryNamesItsChannelAndN() {
        assertMentions(assertThrows(IllegalArgumentException.class,
                () -> InputScaling.diagonal(new double[] {1, 2, Double.NaN, 4})), "InputScaling.diagonal", "NaN",
                "channel 2", "n = 4");
        assertMentions(assertThrows(IllegalArgumentException.class,
                () -> InputScaling.diagonal(new double[] {1, -0.5, 3})), "-0.5", "channel 1", "n = 3");
        assertMentions(assertThrows(IllegalArgumentException.class, () -> InputScaling.diagonal(new double[] {0, 0, 0})),
                "n = 3", "zero");
    }

    /** C = [[1, 2], [2, 1]] has eigenvalues 3 and −1; with λ = 0 its 2×2 leading minor fails. */
    @Test
    void aCovarianceThatIsNotPositiveDefiniteNamesN() {
        assertMentions(assertThrows(IllegalArgumentException.class,
                () -> InputScaling.whiten(new double[] {1, 2, 2, 1}, 2, 0)), "InputScaling.whiten", "n = 2",
                "not positive definite", "leading 2×2 minor", "raise λ");
    }

    @Test
    void whiteningStatisticsGatheredWithoutTheCovarianceIsATypedShapeError() {
        ActivationStats stats = ActivationStats.create(5, false).accumulate(new float[] {1, 2, 3, 4, 5}, 1);
        assertMentions(assertThrows(ShapeMismatchException.class, () -> InputScaling.from(ScaleMode.whiten(), stats)),
                "InputScaling.from", "whiten", "5×5 covariance", "n = 5", "ActivationStats.create(n, true)");
    }

    @Test
    void channelStatisticsOfDifferentLengthsAreAShapeError() {
        assertMentions(assertThrows(ShapeMismatchException.class,
                () -> InputScaling.fromChannelStatistics(ScaleMode.rms(), new double[] {1, 2, 3}, new double[] {1, 2})),
                "3 channels", "has 2");
    }
}
