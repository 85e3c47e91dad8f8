"""Training side of CRNN-OCR (needs the `train` extra: torch, jieba, wordfreq, fonttools).

Nothing in ``crnn_ocr`` imports this package: inference runs on ONNX Runtime alone. Training calls
the runtime where the two must agree (line and page input preparation, CTC decoding, detector
post-processing), so they cannot drift apart.

Text and images
    corpus, running_text   word lists and running text (People's Daily, reviews, English prose)
    textgen                the text kinds of a line (``TextMix``): words, fields, plates, receipts
    fonts, render          font discovery; line, scene-word and plate rendering with degradation
    raster_lines           lines drawn by Chromium / PDFium, cached (``crnn-ocr-raster-lines``)
    data, synth            the synthetic batch stream, labelled line sets (``crnn-ocr-synth``)
    det_pages, det_data    synthetic pages with line polygons; the detector's DB targets and batches
Models
    model, det_model       the CRNN recognizer; the DB detector
    char_lm                builds the character language model (numpy; ``crnn-ocr-build-lm``)
Training
    config                 ``TrainConfig`` / ``DetTrainConfig`` read from TOML (``configs/``)
    loop                   the training loop both trainers run (steps, limits, log.csv, curves.png,
                           validation, checkpoint cadence, per-group learning rates, early stopping);
                           a ``Task`` holds the model's part
    checkpoint             last.pt / best.pt: save, load, lineage (what trainers and exporters share)
    rec_task               the recognizer's ``Task``: CTC loss, validation CER, synthetic/labelled batches
    finetune               fine-tuning on a user's labels.tsv without forgetting (rehearsal,
                           distillation, frozen BatchNorm, early stopping, WiSE-FT averaging, export)
    train, det_train       ``crnn-ocr-train`` / ``crnn-ocr-det-train``: the CLIs (the recognizer's
                           ``--train-labels`` runs ``finetune``); det_train holds the detector's ``Task``
Export
    onnx_export            the exporter core: ONNX with the contract in its metadata, parity check,
                           manifest entry
    export, det_export     ``crnn-ocr-export`` / ``crnn-ocr-det-export``: each model's graph and metadata

Imports run one way: config, checkpoint → loop → rec_task → finetune → train; loop → det_train;
checkpoint, onnx_export → export / det_export; export → finetune.
"""
