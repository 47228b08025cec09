// Verifying a webhook-agent delivery in C# (.NET or Mono, no packages).
// Pass the raw request body bytes (read them before any model binding), your Secret and the headers.
using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;

public static class WebhookVerifier
{
    // X-SuperOffice-Signature (or, during a rotation, X-SuperOffice-Signature-Previous).
    public static bool VerifySuperOffice(byte[] body, string secret, string signature, string previousSignature)
    {
        string expected;
        using (var hmac = new HMACSHA256(Encoding.UTF8.GetBytes(secret)))
            expected = Convert.ToBase64String(hmac.ComputeHash(body));
        return new[] { signature, previousSignature }.Any(s => s != null && FixedTimeEquals(s.Trim(), expected));
    }

    // webhook-id, webhook-timestamp, webhook-signature (space-separated "v1,<base64>" values).
    public static bool VerifyStandardWebhooks(byte[] body, string secret, string id, string timestamp, string signatures, long nowSeconds, long toleranceSeconds = 300)
    {
        long seconds;
        if (id == null || signatures == null || !long.TryParse(timestamp, out seconds)) return false;
        if (Math.Abs(nowSeconds - seconds) > toleranceSeconds) return false; // a possible replay
        var key = Convert.FromBase64String(secret.Substring("whsec_".Length));
        var prefix = Encoding.UTF8.GetBytes(id + "." + timestamp + ".");
        string expected;
        using (var hmac = new HMACSHA256(key))
            expected = "v1," + Convert.ToBase64String(hmac.ComputeHash(prefix.Concat(body).ToArray()));
        return signatures.Split(' ').Any(s => FixedTimeEquals(s, expected));
    }

    static bool FixedTimeEquals(string a, string b)
    {
        if (a.Length != b.Length) return false;
        int diff = 0;
        for (int i = 0; i < a.Length; i++) diff |= a[i] ^ b[i];
        return diff == 0;
    }

    // mono VerifyWebhook.exe BODY_FILE SECRET SIGNATURE PREVIOUS ID TIMESTAMP SIGNATURES NOW ("-" for none)
    public static int Main(string[] args)
    {
        Func<string, string> arg = s => s == "-" ? null : s;
        var body = File.ReadAllBytes(args[0]);
        Console.WriteLine("superoffice " + VerifySuperOffice(body, args[1], arg(args[2]), arg(args[3])));
        if (args[1].StartsWith("whsec_"))
            Console.WriteLine("standard-webhooks " + VerifyStandardWebhooks(body, args[1], arg(args[4]), arg(args[5]), arg(args[6]), long.Parse(args[7])));
        return 0;
    }
}
