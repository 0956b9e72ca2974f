"""Models for the import, finetune and evaluate steps: bases, training, post steps, the predictor, metrics.

Every module imports torch, transformers and peft inside its functions, so importing this
package stays as cheap as the rest of ``runners``.
"""
