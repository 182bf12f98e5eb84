// The children's environment: the supervisor's own, minus what belongs to the supervisor's manager. systemd's
// notify/watchdog/socket variables would let a child speak for the service; pm2 copies its app options into the
// environment of the process it starts (args, status, autorestart, env_*, the app's own name as a key, ...).
// The one place these rules live.

/** Variables of this process's service manager (systemd) or of its own start-up that must never reach children. */
const STRIPPED_ENV: readonly RegExp[] = [
  /^NOTIFY_SOCKET$/,
  /^WATCHDOG_(USEC|PID)$/,
  /^LISTEN_(FDS|PID|FDNAMES)$/,
  /^PM2_/i,
  /^pm_/,
  /^NODE_APP_INSTANCE$/,
  /^name$/,
  /^NODE_CHANNEL_/,
  /^TBW_WORKER_ENTRY$/,
];

/** Pure: the environment children get from a supervisor started with `env`. */
export function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  // Under pm2 the environment also carries pm2's app options (status, autorestart, the app name...).
  const pm2 = pm2InjectedKeys(env);
  for (const [k, v] of Object.entries(env)) if (!STRIPPED_ENV.some((re) => re.test(k)) && !pm2.has(k)) out[k] = v;
  return out;
}

/** Keys of pm2's app schema (pm2 6 lib/API/schema.json) plus the runtime fields it adds. */
const PM2_KEYS: readonly string[] = [
  // schema
  'script',
  'name',
  'name_prefix',
  'filter_env',
  'namespace',
  'install_url',
  'cwd',
  'args',
  'exec_interpreter',
  'node_args',
  'out_file',
  'error_file',
  'log_file',
  'disable_logs',
  'log_type',
  'log_date_format',
  'time',
  'env',
  'max_memory_restart',
  'pid_file',
  'restart_delay',
  'exp_backoff_restart_delay',
  'source_map_support',
  'disable_source_map_support',
  'wait_ready',
  'instances',
  'kill_timeout',
  'shutdown_with_message',
  'listen_timeout',
  'cron_restart',
  'merge_logs',
  'vizion',
  'autostart',
  'autorestart',
  'stop_exit_codes',
  'watch_delay',
  'watch',
  'ignore_watch',
  'watch_options',
  'min_uptime',
  'max_restarts',
  'execute_command',
  'exec_mode',
  'force',
  'append_env_to_name',
  'post_update',
  'trace',
  'disable_trace',
  'v8',
  'event_loop_inspector',
  'deep_monitoring',
  'increment_var',
  'instance_var',
  'pmx',
  'automation',
  'treekill',
  'port',
  'username',
  'uid',
  'gid',
  'windowsHide',
  'kill_retry_time',
  'write',
  'io',
  // runtime
  'status',
  'restart_time',
  'unstable_restarts',
  'created_at',
  'unique_id',
  'km_link',
  'vizion_running',
  'axm_actions',
  'axm_monitor',
  'axm_options',
  'axm_dynamic',
  'prev_restart_delay',
  'exit_code',
  'version',
  'node_version',
  'versioning',
  'NODE_APP_INSTANCE',
];

/** Pure: the variables pm2 injected into `env`; empty when this process was not started by pm2. */
export function pm2InjectedKeys(env: NodeJS.ProcessEnv): Set<string> {
  if (env.pm_id === undefined) return new Set();
  const keys = new Set(PM2_KEYS);
  for (const k of Object.keys(env)) {
    if (k.startsWith('env_') || k.startsWith('pm_') || k.startsWith('axm_')) keys.add(k);
  }
  // The app name becomes a key of its own, and instance_var names the per-instance variable.
  if (env.name !== undefined) keys.add(env.name);
  if (env.instance_var !== undefined) keys.add(env.instance_var);
  return keys;
}
