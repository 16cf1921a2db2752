"""nodecat's executor: graphs of catalog nodes -> checked, measured, built and run models.

Keras runs on its torch backend unless the user chose another (KERAS_BACKEND), so one process
can hold torch and Keras layers in one graph. Set before anything here imports keras.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")
