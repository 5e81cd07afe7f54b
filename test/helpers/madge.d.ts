// The part of madge's API (v8, https://github.com/pahen/madge#api) the architecture test uses;
// madge ships no types.
declare module 'madge' {
  interface MadgeConfig {
    fileExtensions?: string[];
    tsConfig?: string;
    detectiveOptions?: Record<string, Record<string, unknown>>;
  }
  interface MadgeInstance {
    /** Module → the modules it imports, paths relative to the base directory. */
    obj(): Record<string, string[]>;
    /** Each cycle as the list of modules on it. */
    circular(): string[][];
    /** The modules that import `id`. */
    depends(id: string): string[];
  }
  function madge(path: string, config?: MadgeConfig): Promise<MadgeInstance>;
  export = madge;
}
