"""Autoregressive models: exact likelihoods of discrete images as products of per-pixel conditionals."""
