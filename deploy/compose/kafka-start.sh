#!/usr/bin/env bash
# One node of the compose stack's Kafka: combined broker and controller (KRaft), SASL_SSL with
# SCRAM-SHA-512 for clients, mutual TLS between controllers, the same settings `imx kafka up`
# gives its single node (services/imx/kafka/localbroker.py), for three nodes.
# Needs NODE_ID and CLUSTER_ID; the secrets of `imx security init` are mounted at /secrets.
set -euo pipefail
: "${NODE_ID:?}" "${CLUSTER_ID:?}"
admin_password="$(cat /secrets/passwords/admin)"
props=/var/lib/kafka/server.properties
jaas="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"${admin_password}\";"
umask 077
cat > "$props" <<PROPS
node.id=${NODE_ID}
process.roles=broker,controller
controller.quorum.voters=1@kafka-1:9094,2@kafka-2:9094,3@kafka-3:9094
listeners=CLIENT://:9093,CONTROLLER://:9094
advertised.listeners=CLIENT://kafka-${NODE_ID}:9093
controller.listener.names=CONTROLLER
listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:SSL
inter.broker.listener.name=CLIENT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=${jaas}
listener.name.controller.ssl.client.auth=required
ssl.keystore.type=PEM
ssl.keystore.location=/secrets/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=/secrets/ca.crt
ssl.enabled.protocols=TLSv1.3,TLSv1.2
ssl.endpoint.identification.algorithm=https
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:CN=imx broker,O=imx
connections.max.reauth.ms=600000
log.dirs=/var/lib/kafka/data
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
auto.create.topics.enable=false
message.max.bytes=1048576
PROPS
# What the health check uses to ask this node for its API versions, as admin.
cat > /var/lib/kafka/client.properties <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=${jaas}
ssl.truststore.type=PEM
ssl.truststore.location=/secrets/ca.crt
PROPS
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "$CLUSTER_ID" -c "$props" \
  --add-scram "SCRAM-SHA-512=[name=admin,password=${admin_password}]"
exec /opt/kafka/bin/kafka-server-start.sh "$props"
