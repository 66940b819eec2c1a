package probe

// TokenEnv is the environment variable through which the plugin hands a
// probe the secret of its session. The probe listens on the node's loopback,
// where any local user could connect; only clients that present the secret
// get flows. An environment variable, unlike an argument, is not readable by
// every user of the node (/proc/PID/cmdline is, /proc/PID/environ is not).
const TokenEnv = "NETFLOW_TOKEN"
