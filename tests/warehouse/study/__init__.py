"""Tests of the study tables (warehouse/study, warehouse/sql/study) and their statistics."""
