/**
 * Text to token ids for the embedded encoder: {@link io.jnora.text.WordPieceTokenizer} reads a Hugging Face
 * {@code tokenizer.json} of BERT's kind (BertNormalizer, BertPreTokenizer, WordPiece, [CLS] … [SEP]).
 */
package io.jnora.text;
