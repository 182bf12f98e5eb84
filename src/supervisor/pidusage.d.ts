// Minimal typing for pidusage 4 (it ships none): the one call the supervisor makes.
declare module 'pidusage' {
  interface Stat {
    cpu: number;
    memory: number;
    pid: number;
    ppid: number;
    ctime: number;
    elapsed: number;
    timestamp: number;
  }
  function pidusage(pid: number | string): Promise<Stat>;
  export default pidusage;
}
