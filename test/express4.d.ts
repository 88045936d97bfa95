// Express 4, installed beside Express 5 as `express4` (npm alias) so that the adapter
// suite runs against both; the part of the API the tests use is the same in both.
declare module 'express4' {
  import express from 'express'
  export default express
}
