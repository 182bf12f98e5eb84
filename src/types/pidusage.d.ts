// Minimal types for pidusage 4 (the package ships none): the one call the supervisor and the status command make.
declare module 'pidusage' {
  interface PidStat {
    /** CPU use in percent since the previous call for this pid (100 = one core). */
    cpu: number;
    /** Resident set size, bytes. */
    memory: number;
    pid: number;
    elapsed: number;
    timestamp: number;
  }
  function pidusage(pid: number): Promise<PidStat>;
  export default pidusage;
}
