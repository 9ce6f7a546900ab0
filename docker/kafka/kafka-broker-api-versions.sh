#!/bin/bash
# Same command as in the Kafka distribution (a new JVM per call): kept for compatibility; kafka-ready.sh is cheap.
exec java -Xmx128m -Dlog4j.configuration=file:/opt/kafka/config/tools-log4j.properties \
    -cp '/opt/kafka/libs/*' kafka.admin.BrokerApiVersionsCommand "$@"
