/**
 * Rank allocation across layers under a parameter budget (SPEC §2.8, AIRA): {@link io.jnora.aira.OutlierRatio}
 * measures each layer's activation outliers, {@link io.jnora.aira.RankAllocator} spreads the budget by one
 * of the {@link io.jnora.aira.AllocationStrategy strategies} into a {@link io.jnora.aira.RankAllocation},
 * and {@link io.jnora.aira.AllocationJson} reads and writes the {@code ranks} command's files.
 */
package io.jnora.aira;
