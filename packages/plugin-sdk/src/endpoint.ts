/** Where a Redis node is and how to log in. */
export interface Endpoint {
  host: string;
  port: number;
  username?: string;
  password?: string;
  tls?: boolean;
}
