"""The model of Kafka: network, brokers and their logs, producer state, the controller, and the
group and transaction coordinators. Imports nothing from clients, runs or above."""
