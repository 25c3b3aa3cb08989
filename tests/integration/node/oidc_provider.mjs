// A certified OpenID Connect provider (panva's oidc-provider) for tests/auth/test_social_oidc.py.
//
//   PORT=4000 CLIENTS='[...]' ACCOUNTS='{...}' node oidc_provider.mjs
//
// Issuer http://127.0.0.1:$PORT. CLIENTS: [{client_id, client_secret, redirect_uris,
// tamper?: {aud?, iss?, nonce?, signature?}}]; ACCOUNTS: {id: {email, email_verified, name}}.
// Interactions complete by themselves: login as the account named by the request's
// login_hint (else the first account), consent to what was asked. A client with `tamper`
// gets ID tokens whose claims are replaced after the provider issued them and then signed
// again with the provider's own key (so only the claims are wrong), or with a broken
// signature when tamper.signature is set.
import crypto from "node:crypto"
import Provider from "oidc-provider"

const port = Number(process.env.PORT)
const issuer = `http://127.0.0.1:${port}`
const clients = JSON.parse(process.env.CLIENTS)
const accounts = JSON.parse(process.env.ACCOUNTS)

const {privateKey} = crypto.generateKeyPairSync("rsa", {modulusLength: 2048})
const jwk = {...privateKey.export({format: "jwk"}), kid: "test-key", alg: "RS256", use: "sig"}
const tampering = new Map(clients.filter((c) => c.tamper).map((c) => [c.client_id, c.tamper]))

const provider = new Provider(issuer, {
  clients: clients.map(({tamper, ...client}) => ({
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
    ...client,
  })),
  jwks: {keys: [jwk]},
  cookies: {keys: [crypto.randomBytes(32).toString("hex")]},
  pkce: {required: () => true},
  claims: {openid: ["sub"], email: ["email", "email_verified"], profile: ["name"]},
  features: {devInteractions: {enabled: false}},
  interactions: {url: (ctx, interaction) => `/interaction/${interaction.uid}`},
  async findAccount(ctx, id) {
    const account = accounts[id]
    if (!account) return undefined
    return {accountId: id, claims: async () => ({sub: id, ...account})}
  },
})

function base64url(value) {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url")
}

function resign(idToken, tamper) {
  const [header, payload] = idToken.split(".")
  const claims = {...JSON.parse(Buffer.from(payload, "base64url")), ...tamper}
  delete claims.signature
  const input = `${header}.${base64url(claims)}`
  let signature = crypto.sign("sha256", Buffer.from(input), privateKey)
  if (tamper.signature) signature = Buffer.from(signature.map((byte) => byte ^ 1))
  return `${input}.${signature.toString("base64url")}`
}

provider.use(async (ctx, next) => {
  if (ctx.method === "GET" && ctx.path.startsWith("/interaction/")) {
    const details = await provider.interactionDetails(ctx.req, ctx.res)
    const {prompt, params, session} = details
    let result
    if (prompt.name === "login") {
      const accountId = params.login_hint || Object.keys(accounts)[0]
      result = accounts[accountId]
        ? {login: {accountId}}
        : {error: "access_denied", error_description: "no such test account"}
    } else {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({accountId: session.accountId, clientId: params.client_id})
      if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(" "))
      if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims)
      result = {consent: {grantId: await grant.save()}}
    }
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, {mergeWithLastSubmission: true}))
    return
  }
  await next()
  if (ctx.path === "/token" && ctx.status === 200 && ctx.body && ctx.body.id_token) {
    const tamper = tampering.get(ctx.oidc && ctx.oidc.client && ctx.oidc.client.clientId)
    if (tamper) ctx.body = {...ctx.body, id_token: resign(ctx.body.id_token, tamper)}
  }
})

provider.listen(port, "127.0.0.1", () => console.log(JSON.stringify({issuer})))
