"""Experiments: scripts that train registered zoo models several times to
answer one question (`python -m zoo.experiments.<name>`). Not models: they
import only the models' public names, never `zoo.cli`.

    bert_ablation   does masked-LM pretraining help the BERT classifier?
"""
