/**
 * Interoperability with Hugging Face PEFT's LoRA adapters (SPEC §2.7, §5), so that adapters trained
 * in Python run in Java and back.
 *
 * <p>{@link io.jnora.peft.PeftAdapter} reads and writes a PEFT adapter directory;
 * {@link io.jnora.peft.LoraLayer} is one plain LoRA module, converted from a nested layer
 * ({@code lora_B = B·B'}, {@code lora_A = A'·A}, doubled in rank for the residual base) and run as a
 * nested layer with identity inner factors; {@link io.jnora.peft.PeftLoraConfig} is the validated
 * {@code adapter_config.json}; {@link io.jnora.peft.PeftPatternKeys} is PEFT's rule for picking a
 * module's {@code rank_pattern} / {@code alpha_pattern} entry.
 */
package io.jnora.peft;
