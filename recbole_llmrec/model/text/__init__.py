"""The language-model side of LLM-Rec, one module per concern: where the LM comes from (:mod:`.resolve`),
loading it (:mod:`.backbone`), pooling (:mod:`.pooling`), LoRA (:mod:`.lora`), precision (:mod:`.precision`),
the LM as a vector encoder (:mod:`.text_encoder`), the text item encoder over a catalogue's titles
(:mod:`.text_items`), its vectors' sources and caches (:mod:`.title_vector_file`, :mod:`.title_vector_cache`,
:mod:`.vector_cache`) and the titles' tf-idf words (:mod:`.title_words`)."""
