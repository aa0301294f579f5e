// Health check for the HAPI FHIR sandbox EHR (docker compose profile `sandbox`).
//
// The hapiproject/hapi image is distroless: no shell, no curl, no wget. Its JVM
// runs this file directly (`java HealthCheck.java URL`, single-file source
// launch, Java 11+). Exit 0 when URL answers 200 with a CapabilityStatement.
// tests/deploy/test_compose.py runs it against a local server.

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

public class HealthCheck {
    public static void main(String[] args) {
        String url = args.length > 0 ? args[0] : "http://127.0.0.1:8080/fhir/metadata";
        try {
            HttpClient client = HttpClient.newBuilder()
                    .connectTimeout(Duration.ofSeconds(5))
                    .build();
            HttpRequest request = HttpRequest.newBuilder(URI.create(url))
                    .header("Accept", "application/fhir+json")
                    .timeout(Duration.ofSeconds(10))
                    .GET()
                    .build();
            HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() != 200) {
                System.err.println("unhealthy: HTTP " + response.statusCode());
                System.exit(1);
            }
            if (!response.body().matches("(?s).*\"resourceType\"\\s*:\\s*\"CapabilityStatement\".*")) {
                System.err.println("unhealthy: no CapabilityStatement in the response");
                System.exit(1);
            }
            System.exit(0);
        } catch (Exception error) {
            System.err.println("unhealthy: " + error);
            System.exit(1);
        }
    }
}
