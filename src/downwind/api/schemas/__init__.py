"""Request and response models with Apache Airflow 3's field names and JSON types, one
module per resource. Responses carry every field that ``apache-airflow-client`` 3.3.2
requires; request bodies refuse unknown fields, as Airflow's do."""
