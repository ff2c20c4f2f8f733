"""``user_encoder: sequence`` (the CPU default), one module per part: the encoder (:mod:`.encoder`), the
history transformer (:mod:`.history`, its dropout :mod:`.rand_mask_dropout`), the adaptor of title vectors
(:mod:`.adaptor`), the learned item-id part (:mod:`.id_fusion`) and the text head (:mod:`.text_head`)."""
from recbole_llmrec.model.user_encoders.sequence.encoder import SequenceUserEncoder

__all__ = ["SequenceUserEncoder"]
