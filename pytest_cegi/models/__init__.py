"""The model stack (transformers, peft, bitsandbytes): variants, fine-tuning, the adapter cache. Free of pytest."""
