"""Writes tests/data/spm_vocab.json as a vocab-only GGUF that llama.cpp loads,
so tools/reference/tokenize.mjs can produce llama.cpp's ids for the
SentencePiece parity test:

    python3 tools/reference/spm_vocab.py tests/data/spm_vocab.json /tmp/spm_vocab.gguf
    node tools/reference/tokenize.mjs --model /tmp/spm_vocab.gguf \
        --corpus tests/data/spm_corpus.json --out tests/data/reference/tokenize_spm_vocab.json

Needs `pip install gguf`. The llama hyper-parameters are placeholders: a
vocab-only load reads them but never builds the model.
"""

import json
import sys

from gguf import GGUFWriter

src, dst = sys.argv[1], sys.argv[2]
vocab = json.load(open(src, encoding="utf-8"))
w = GGUFWriter(dst, "llama")
w.add_context_length(64)
w.add_embedding_length(8)
w.add_block_count(1)
w.add_feed_forward_length(8)
w.add_head_count(1)
w.add_head_count_kv(1)
w.add_layer_norm_rms_eps(1e-5)
w.add_rope_dimension_count(8)
w.add_tokenizer_model("llama")
w.add_token_list(vocab["tokens"])
w.add_token_scores(vocab["scores"])
w.add_token_types(vocab["token_types"])
w.add_bos_token_id(1)
w.add_eos_token_id(2)
w.add_unk_token_id(0)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
