#!/bin/sh
# Regenerates docs/img/, the pictures of docs/losses.md. Run from the project root.
set -e
python -m numloss plot --all-to docs/img
python -m numloss plot l1_loss smooth_l1_loss huber_loss:delta=2 -o docs/img/overlay_regression.png
python -m numloss plot hinge_loss soft_margin_loss --range -3 3 -o docs/img/overlay_margin.png
