// pm2 process file for task-backend-worker. The supervisor forks its own children (prefork), so pm2 runs ONE
// instance in fork mode and only watches the supervisor:
//   pm2 start ecosystem.config.cjs                 # Celery (settings from the environment / .env in cwd)
//   pm2 start ecosystem.config.cjs --env temporal  # or --env hatchet
//   pm2 reload task-backend-worker                 # restart the pool (online again once every child is ready)
//   pm2 stop task-backend-worker                   # warm shutdown: in-flight tasks finish, then exit 0
// Exit codes (see README): 0 clean, 1 supervisor error, 3 children cannot boot, 4 crash loop, 64 usage,
// 78 bad config. pm2 does not restart on 3, 4, 64 and 78: restarting cannot fix them.
const path = require('node:path');

// Keep these in step with the worker's settings (defaults shown): pm2 must wait longer than the worker does.
const READY_TIMEOUT_MS = 60_000; // --ready-timeout / TASK_READY_TIMEOUT
const SHUTDOWN_TIMEOUT_MS = 30_000; // --shutdown-timeout / TASK_SHUTDOWN_TIMEOUT
const KILL_GRACE_MS = 5_000; // cold stop after the warm deadline, before the supervisor SIGKILLs children

module.exports = {
  apps: [
    {
      name: 'task-backend-worker',
      // The built CLI as a Node script, so pm2 forks it with an IPC channel: the supervisor sends 'ready' on it.
      script: path.join(__dirname, 'dist', 'src', 'cli', 'main.js'),
      args: [],
      // The supervisor's own V8 flags, the same as bin/task-backend-worker passes (children never inherit them).
      node_args: ['--max-semi-space-size=1', '--no-opt'],
      exec_mode: 'fork',
      instances: 1,
      // Online only after every child is ready (the supervisor calls process.send('ready')).
      wait_ready: true,
      listen_timeout: READY_TIMEOUT_MS + 10_000,
      // pm2 stop/reload sends SIGINT to the whole tree (children ignore it; the supervisor drains them),
      // then SIGKILL after kill_timeout: leave room for the warm shutdown and the cold grace.
      kill_timeout: SHUTDOWN_TIMEOUT_MS + KILL_GRACE_MS + 5_000,
      treekill: true,
      autorestart: true,
      // Crash → restart after 100 ms, doubling up to 15 s, reset after 30 s of uptime.
      exp_backoff_restart_delay: 100,
      stop_exit_codes: [3, 4, 64, 78],
      // pino already stamps every line; one merged log per app.
      merge_logs: true,
      time: false,
      env: {
        NODE_ENV: 'production',
        TASK_BACKEND_TYPE: 'celery',
        TASK_LOG_FORMAT: 'json',
        // CELERY_BROKER_URL: 'redis://127.0.0.1:6379/0',
        // TASK_WORKER_CONCURRENCY: '4',
        // TASK_QUEUES: 'celery',
      },
      env_temporal: {
        TASK_BACKEND_TYPE: 'temporal',
        // TEMPORAL_HOST: '127.0.0.1', TEMPORAL_PORT: '7233', TEMPORAL_NAMESPACE: 'default',
        // TEMPORAL_TASK_QUEUE: 'default',
      },
      env_hatchet: {
        TASK_BACKEND_TYPE: 'hatchet',
        // HATCHET_CLIENT_TOKEN: '...',
      },
    },
  ],
};
