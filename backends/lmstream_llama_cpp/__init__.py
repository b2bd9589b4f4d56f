"""The llama.cpp backend (``backend="llama_cpp"``): GGUF models through llama-cpp-python.

llama_cpp is imported only when a model is loaded (``lmstream_llama_cpp.plugin`` registers
the factory without importing it).
"""
