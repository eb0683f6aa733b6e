"""``TriggerRule`` at the path Airflow users import it from."""

from downwind.sdk.trigger_rule import TriggerRule

__all__ = ["TriggerRule"]
