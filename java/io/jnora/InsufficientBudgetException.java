package io.jnora;

/**
 * A rank allocation's parameter budget cannot give every layer its minimum rank (SPEC §2.8); the
 * message names the budget and the minimum, which {@link #minimumBudget()} also returns.
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class InsufficientBudgetException extends JnoraException {
    private static final long serialVersionUID = 1L;

    private final long budget;
    private final long minimumBudget;

    public InsufficientBudgetException(String message, long budget, long minimumBudget) {
        super(message);
        this.budget = budget;
        this.minimumBudget = minimumBudget;
    }

    /** The budget that was asked for. */
    public long budget() {
        return budget;
    }

    /** The smallest budget that works: Σ_l c_l · r_min. */
    public long minimumBudget() {
        return minimumBudget;
    }
}
