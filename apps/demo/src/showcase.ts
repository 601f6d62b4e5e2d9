// Placeholder until the showcase lands (issue: apps/demo). It says what it will become.
console.log(`tailwire showcase (coming next):
  starts an embedded nats-server, a requester and three compute nodes as separate processes,
  streams logs with tail and follow, cancels a follow, kills a compute node and the requester,
  and prints the detection times.`);
