// Whether a process id names a live process (signal 0: nothing is sent). EPERM: it lives, as another user's.
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
