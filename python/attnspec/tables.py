"""A report as a table: one row per head with every scalar figure, the columns of heads.csv."""
import csv
import io


def _number(text):
    if text == "":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text, text)


def report_table(report):
    """One row per head (layer, head, field_rank_at_tau, interaction_rank_at_tau, stability_certified_max_tv, ...):
    a pandas DataFrame when pandas is installed, else a list of dicts. Absent figures are None (NaN in pandas)."""
    return as_table([{name: _number(value) for name, value in row.items()}
                     for row in csv.DictReader(io.StringIO(report.to_csv()))])


def as_table(rows):
    """A list of dicts as a pandas DataFrame when pandas is installed, else unchanged."""
    try:
        import pandas
    except ImportError:
        return rows
    return pandas.DataFrame(rows)
