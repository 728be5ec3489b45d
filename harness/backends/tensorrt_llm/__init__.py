"""TensorRT-LLM backend (generator runners from a checkpoint folder); tensorrt_llm is imported lazily."""
