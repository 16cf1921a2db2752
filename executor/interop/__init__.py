"""Interoperability: existing torch and Keras models in (import), code, ONNX and framework files out (export).

Importers turn a model into a graph of catalog nodes plus its weights, or report every call the
catalog cannot express; exporters turn a checked graph into readable Python, ONNX, a torch state
dict or a `.keras` file.
"""
